/**
 * No Docker engine here, so the image recipe is proven in two halves: the
 * Dockerfile is linted (hadolint when on PATH, and always the checks below),
 * and the runtime stage's steps run on the host: a production-only install
 * in a clean folder, then the built entry point started from it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';

const ROOT = resolve('.');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  const joined = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  for (const line of joined) {
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unparseable Dockerfile line: ${line}`);
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage++;
    out.push({ op, args: m[2].trim(), stage });
  }
  return out;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const ins = instructions(text);
  const froms = ins.filter((i) => i.op === 'FROM');
  const last = froms.length - 1;
  const runtime = ins.filter((i) => i.stage === last);
  const build = ins.filter((i) => i.stage === 0);

  it('passes hadolint when it is installed', () => {
    const which = spawnSync('sh', ['-c', 'command -v hadolint'], { encoding: 'utf8' });
    if (which.status !== 0) return; // Not in Debian bookworm: the checks below stand in for it.
    const r = spawnSync('hadolint', ['Dockerfile'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('is multi-stage on pinned slim images of the Node major that CI tests and `engines` names, never latest', () => {
    const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const major = /^>=\s*(\d+)\./.exec(engines)?.[1];
    expect(major, engines).toBe('20');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const f of froms) {
      const image = f.args.split(/\s+/)[0];
      expect(image, f.args).toMatch(new RegExp(`^node:${major}\\.\\d+\\.\\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$`));
      expect(f.args).not.toMatch(/latest/);
    }
    expect(
      new Set(froms.map((f) => f.args.split(/\s+/)[0])).size,
      'build and runtime on the same base (the native module is built against its Node and glibc)',
    ).toBe(1);
    expect(froms[0].args).toMatch(/\sAS\s+build$/i);
  });

  it('fails the build when the native module is missing or does not load', () => {
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    const buildAt = runs.findIndex((r) => /\bnpm run build\b/.test(r));
    const check = runs.slice(buildAt + 1).find((r) => r.includes('dist/native/scan-settle.node'));
    expect(check, 'a RUN step after `npm run build` that loads dist/native/scan-settle.node').toBeDefined();
    // The same step, performed on the host: it passes on this build and fails without the module.
    const script = /^node -e "(.*)"$/.exec(check!)?.[1];
    expect(script, check).toBeDefined();
    const run = (dist: string) => spawnSync(process.execPath, ['-e', script!.replaceAll('/src/dist/', `${dist}/`)], { encoding: 'utf8' });
    if (existsSync(join(ROOT, 'dist', 'native', 'scan-settle.node')))
      expect(run(join(ROOT, 'dist')).status, 'the check passes on a build with the module').toBe(0);
    const empty = mkdtempSync(join(tmpdir(), 'rl-nonative-'));
    dirs.push(empty);
    const missing = run(empty);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/Cannot find module/);
    mkdirSync(join(empty, 'native'));
    writeFileSync(join(empty, 'native', 'scan-settle.node'), 'not a shared object');
    expect(run(empty).status, 'a file that does not load fails too').not.toBe(0);
  });

  it('builds with npm ci + npm run build and copies every source folder tsc compiles', () => {
    const runs = build.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
    const included = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
    const copied = build.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const dir of included) expect(copied, `build stage must COPY ${dir}`).toContain(dir);
    expect(copied).toEqual(expect.arrayContaining(['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json']));
  });

  it('ships production dependencies only, dist/ from the build stage, as a non-root user under tini, with a node HEALTHCHECK on /healthz', () => {
    const runs = runtime.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && /--omit=dev/.test(r) && /--ignore-scripts/.test(r))).toBe(true);
    expect(runs.some((r) => /npm (install|i)\b/.test(r))).toBe(false);
    const apt = runs.find((r) => /apt-get install/.test(r));
    expect(apt).toMatch(/--no-install-recommends/);
    expect(apt).toMatch(/\btini\b/);
    expect(apt).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.some((c) => /^--from=build\s+\S*dist\s/.test(c))).toBe(true);
    expect(copies.some((c) => /^bin\s/.test(c))).toBe(true);
    const userIdx = runtime.findIndex((i) => i.op === 'USER');
    expect(userIdx).toBeGreaterThan(-1);
    expect(runtime[userIdx].args).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime.slice(userIdx + 1).some((i) => i.op === 'USER')).toBe(false);
    const entry = runtime.find((i) => i.op === 'ENTRYPOINT');
    const argv = JSON.parse(entry!.args) as string[];
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/tini', '--']);
    expect(argv.slice(2)).toEqual(['node', '/app/bin/reviewloop.js']);
    const hc = runtime.find((i) => i.op === 'HEALTHCHECK');
    expect(hc?.args).toMatch(/CMD \["node",/);
    expect(hc?.args).toMatch(/\/healthz/);
    expect(hc?.args).not.toMatch(/curl|wget/);
    expect(JSON.parse(runtime.find((i) => i.op === 'CMD')!.args)).toEqual(['run', '-c', '/config/reviewloop.yaml']);
    expect(ins.some((i) => i.op === 'ADD')).toBe(false);
    expect(
      ins
        .filter((i) => i.op === 'ENV' || i.op === 'ARG')
        .map((i) => i.args)
        .join(' '),
    ).not.toMatch(/(KEY|TOKEN|SECRET|PASSWORD)=/i);
  });

  it('has a .dockerignore that keeps dependencies, build output, tests and git out of the context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'dist', 'test', '*.duckdb']));
    // Nothing the build stage copies may be ignored.
    for (const keep of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'config', 'scoring', 'domain', 'worker', 'bin'])
      expect(ignored).not.toContain(keep);
  });

  it('ships deployment examples with probes on the ops endpoints', () => {
    const docs = readdirSync(join(ROOT, 'deploy'))
      .filter((f) => f.endsWith('.yaml'))
      .flatMap((f) =>
        parseAllDocuments(readFileSync(join(ROOT, 'deploy', f), 'utf8')).map((d) => {
          expect(d.errors, f).toEqual([]);
          return d.toJSON() as { kind: string; spec: any };
        }),
      );
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Job', 'Service']));
    const dep = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0];
    expect(dep.livenessProbe.httpGet.path).toBe('/healthz');
    expect(dep.readinessProbe.httpGet.path).toBe('/readyz');
    const svc = docs.find((d) => d.kind === 'Service')!.spec.template;
    expect(svc.metadata.annotations['autoscaling.knative.dev/minScale']).toBe('1');
    expect(svc.spec.containers[0].livenessProbe.httpGet.path).toBe('/healthz');
    expect(docs.find((d) => d.kind === 'Job')!.spec.template.spec.template.spec.containers[0].args).toContain('--once');
  });
});

describe('the runtime stage, performed on the host', () => {
  it('installs production dependencies only, starts the entry point, serves /healthz and exits 0 on SIGTERM', async () => {
    expect(existsSync(join(ROOT, 'dist', 'worker', 'cli', 'main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    const app = mkdtempSync(join(tmpdir(), 'rl-image-'));
    dirs.push(app);
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f));
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
    const install = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: app,
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(install.status, install.stderr).toBe(0);
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) expect(existsSync(join(app, 'node_modules', dep)), dep).toBe(true);
    // Packages the lockfile marks dev-only (typescript, vitest, …) stay out; shared ones like @types/node may be prod deps of a dependency.
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages)
      .filter(([name, p]) => p.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(name))
      .map(([name]) => name);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/typescript', 'node_modules/vitest']));
    for (const name of devOnly) expect(existsSync(join(app, name)), name).toBe(false);

    // As in the image: a working folder apart from the app, a local root and DuckDB stats.
    const work = mkdtempSync(join(tmpdir(), 'rl-image-work-'));
    dirs.push(work);
    mkdirSync(join(work, 'data', 'p', 'predictions'), { recursive: true });
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ id: `x${i}`, text: `item ${i}`, probs: { a: (i % 10) / 10, b: 1 - (i % 10) / 10 } }));
    writeFileSync(join(work, 'data', 'p', 'predictions', 'a.jsonl'), `${lines.join('\n')}\n`);
    const port = await new Promise<number>((ok) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => ok(p));
      });
    });
    writeFileSync(
      join(work, 'reviewloop.yaml'),
      stringify({
        storage: { root: './data' },
        stats: { sink: 'duckdb' },
        worker: { threads: 1, httpPort: port },
        projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'margin', topK: 10 }, schedule: { round: '0 0 1 1 *' } }],
      }),
    );
    const proc = spawn(process.execPath, [join(app, 'bin', 'reviewloop.js'), 'run', '-c', join(work, 'reviewloop.yaml')], {
      cwd: work,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((ok) => proc.on('exit', (code) => ok(code)));
    try {
      const deadline = Date.now() + 60_000;
      let health: Response | null = null;
      while (!health && Date.now() < deadline) {
        health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
        if (!health) await new Promise((r) => setTimeout(r, 200));
      }
      expect(health?.status, out).toBe(200);
      expect(await health!.text()).toBe('ok\n');
      // The start-up pass runs the due round with the scoring pool and DuckDB from production deps.
      const roundsDir = join(work, 'data', 'p', 'rounds');
      while (Date.now() < deadline && !(existsSync(roundsDir) && readdirSync(roundsDir).some((r) => existsSync(join(roundsDir, r, 'manifest.json')))))
        await new Promise((r) => setTimeout(r, 200));
      expect(readdirSync(roundsDir), out).toHaveLength(1);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(await ready.json(), out).toEqual({ ready: true, checks: { config: 'ok', store: 'ok', stats: 'ok', jobs: 'ok' } });
      proc.kill('SIGTERM');
      expect(await exited, out).toBe(0);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    }
  }, 360_000);
});
