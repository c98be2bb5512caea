/**
 * The native module's status as start-up logs and /metrics report it. Each
 * case runs in a child process: the module is loaded once per process, and
 * the environment and the file on disk decide the outcome. The children run
 * a copy of dist/ (the unit tier builds it with tsc), so that removing or
 * corrupting the compiled module never touches the real build.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../worker/core/log.js';
import { createMetrics } from '../../worker/daemon/prom-metrics.js';
import { logNativeStatus, nativeStatus, type NativeStatus } from '../../worker/core/native.js';

const DIST = resolve('dist');
const BUILT = existsSync(join(DIST, 'native', 'scan-settle.node'));
let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'rl-native-'));
  cpSync(DIST, join(copy, 'dist'), { recursive: true });
  rmSync(join(copy, 'dist', 'native'), { recursive: true, force: true });
  // The copy imports its dependencies (zod, …) as the real dist/ does.
  symlinkSync(resolve('node_modules'), join(copy, 'node_modules'), 'dir');
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

/** nativeStatus() and the start-up log line's fields in a fresh process on the copy of dist/. */
function statusIn(env: Record<string, string>): { status: NativeStatus; fields: Record<string, unknown>; severity: string } {
  const mod = pathToFileURL(join(copy, 'dist', 'worker', 'core', 'native.js')).href;
  const script = `
    const { logNativeStatus } = await import(${JSON.stringify(mod)});
    const lines = [];
    const logger = { info: (m, f) => lines.push({ severity: 'INFO', f }), warn: (m, f) => lines.push({ severity: 'WARNING', f }), error: () => {}, debug: () => {}, child() { return logger; } };
    const status = logNativeStatus(logger);
    logNativeStatus(logger);
    if (lines.length !== 1) throw new Error('expected one log line, got ' + lines.length);
    console.log(JSON.stringify({ status, fields: lines[0].f, severity: lines[0].severity }));
  `;
  const env0 = { ...process.env };
  delete env0.REVIEWLOOP_NATIVE;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...env0, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { status: NativeStatus; fields: Record<string, unknown>; severity: string };
}

function placeModule(bytes: Buffer | string | null): void {
  const dir = join(copy, 'dist', 'native');
  rmSync(dir, { recursive: true, force: true });
  if (bytes === null) return;
  mkdirSync(dir);
  writeFileSync(join(dir, 'scan-settle.node'), bytes);
}

describe('native module status', () => {
  it('is "absent" when the module was not built, logged once as a warning', () => {
    placeModule(null);
    const r = statusIn({});
    expect(r.status).toEqual({ inUse: false, reason: 'absent' });
    expect(r.fields).toEqual({ native: false, nativeReason: 'absent' });
    expect(r.severity).toBe('WARNING');
  });

  it('is "disabled" under REVIEWLOOP_NATIVE=0, even with the module there', () => {
    placeModule('not a shared object');
    const r = statusIn({ REVIEWLOOP_NATIVE: '0' });
    expect(r.status).toEqual({ inUse: false, reason: 'disabled' });
    expect(r.severity).toBe('INFO');
  });

  it('is "load-error" with the loader\'s message when the file does not load', () => {
    placeModule('not a shared object');
    const r = statusIn({});
    expect(r.status.inUse).toBe(false);
    expect(r.status.reason).toBe('load-error');
    expect(r.status.detail).toMatch(/scan-settle\.node/);
    expect(r.fields).toMatchObject({ native: false, nativeReason: 'load-error' });
    expect(r.severity).toBe('WARNING');
  });

  it.skipIf(!BUILT)(
    `is in use with its settler kernels when built${BUILT ? '' : ' (skipped: dist/native/scan-settle.node absent: no C compiler at build)'}`,
    () => {
      placeModule(readFileSync(join(DIST, 'native', 'scan-settle.node')));
      const r = statusIn({});
      expect(r.status.inUse).toBe(true);
      expect(['avx2', 'scalar']).toContain(r.status.reason);
      expect(r.fields).toEqual({ native: true, nativeReason: r.status.reason });
      expect(r.severity).toBe('INFO');
    },
  );

  // npm test sets REVIEWLOOP_REQUIRE_NATIVE=1 when a C compiler is on PATH: a build that could have compiled
  // the module must have, or the fast path would vanish from the tests without a failure.
  const required = process.env.REVIEWLOOP_REQUIRE_NATIVE === '1';
  it.skipIf(!required)(`is in use in a run that requires it${required ? '' : ' (skipped: REVIEWLOOP_REQUIRE_NATIVE is not 1)'}`, () => {
    expect(nativeStatus(), 'dist/native/scan-settle.node missing or not loadable: run npm run build (needs cc and node_api.h)').toMatchObject({ inUse: true });
  });

  it('matches in this process what the environment and the build decide', () => {
    const s = nativeStatus();
    if (process.env.REVIEWLOOP_NATIVE === '0') expect(s).toEqual({ inUse: false, reason: 'disabled' });
    else if (!BUILT) expect(s).toEqual({ inUse: false, reason: 'absent' });
    else expect(s.inUse).toBe(true);
    const fields: Array<Record<string, unknown> | undefined> = [];
    const capture: Logger = {
      debug: () => undefined,
      info: (_m, f) => fields.push(f),
      warn: (_m, f) => fields.push(f),
      error: () => undefined,
      child: () => capture,
    };
    expect(logNativeStatus(capture)).toEqual(s);
    expect(fields).toEqual([{ native: s.inUse, nativeReason: s.reason }]);
  });
});

describe('reviewloop_native_module gauge', () => {
  async function series(native?: () => NativeStatus): Promise<string[]> {
    const m = createMetrics({ poolUtilization: () => null, mergeBacklog: async () => new Map(), ...(native ? { native } : {}) });
    return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith('reviewloop_native_module'));
  }

  it('is 1 with the kernels when in use and 0 with the reason when not', async () => {
    expect(await series(() => ({ inUse: true, reason: 'avx2' }))).toEqual(['reviewloop_native_module{reason="avx2"} 1']);
    expect(await series(() => ({ inUse: false, reason: 'load-error', detail: 'x' }))).toEqual(['reviewloop_native_module{reason="load-error"} 0']);
  });

  it("reports this process's status by default", async () => {
    const s = nativeStatus();
    expect(await series()).toEqual([`reviewloop_native_module{reason="${s.reason}"} ${s.inUse ? 1 : 0}`]);
  });
});
