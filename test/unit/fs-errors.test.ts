/**
 * What the operator sees when the disk under a local root misbehaves: a typed
 * error and a documented exit code with one line, never 70 and a stack.
 *
 * EROFS and ENOSPC cannot be produced for real here (no mounts as a test), so
 * they are injected at the fs layer: `node:fs/promises` is wrapped and fails
 * writes under a chosen folder with the errno the kernel would give. A root
 * that is a file and a name too long are real.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../worker/cli/main.js';
import { EXIT, exitCodeFor, fsError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { errorCode } from '../helpers/errors.js';

const inject = vi.hoisted(() => ({ under: null as string | null, errno: 'EROFS' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const failing =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const p = String(args[0]);
      if (inject.under !== null && p.startsWith(inject.under)) {
        return Promise.reject(Object.assign(new Error(`${inject.errno}: injected, open '${p}'`), { code: inject.errno, path: p }));
      }
      return fn(...args);
    };
  const wrapped = { ...actual, writeFile: failing(actual.writeFile), mkdir: failing(actual.mkdir), link: failing(actual.link), rename: failing(actual.rename) };
  return { ...wrapped, default: wrapped };
});

describe('file-system failures under a local root', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-fserr-'));
  });
  afterEach(() => {
    inject.under = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('a read-only file system is STORE_READ_ONLY, a full disk STORE_FULL: exit 69, the path named', async () => {
    const store = new LocalStore(path.join(dir, 'root'));
    await store.write('a.txt', 'x');
    inject.under = path.join(dir, 'root');
    for (const [errno, code] of [
      ['EROFS', 'STORE_READ_ONLY'],
      ['ENOSPC', 'STORE_FULL'],
      ['EDQUOT', 'STORE_FULL'],
      ['EACCES', 'STORE_UNAVAILABLE'],
    ] as const) {
      inject.errno = errno;
      const err = await store.write('b/c.txt', 'y').catch((e: unknown) => e);
      expect(err).toMatchObject({ code });
      expect(exitCodeFor(err)).toBe(EXIT.STORE_UNREACHABLE);
      expect((err as Error).message).toContain(path.join(dir, 'root'));
    }
    // Reads still work on a read-only disk.
    expect((await store.read('a.txt')).toString()).toBe('x');
  });

  it('a root that is a file is a configuration error naming storage.root, for reads, lists and writes', async () => {
    const file = path.join(dir, 'root-file');
    writeFileSync(file, 'not a folder');
    for (const root of [file, path.join(file, 'below')]) {
      const store = new LocalStore(root);
      expect(await errorCode(store.write('x.txt', 'x'))).toBe('CONFIG_INVALID');
      expect(await errorCode(store.read('x.txt'))).toBe('CONFIG_INVALID');
      expect(
        await errorCode(
          (async () => {
            for await (const _ of store.list('')) {
              /* drain */
            }
          })(),
        ),
      ).toBe('CONFIG_INVALID');
      const err = await store.write('x.txt', 'x').then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toMatch(/^storage\.root .*root-file/);
    }
  });

  it('an object where a folder is needed is PATH_INVALID, not a storage outage', async () => {
    const store = new LocalStore(path.join(dir, 'root'));
    await store.write('a', 'x');
    expect(await errorCode(store.write('a/b', 'y'))).toBe('PATH_INVALID');
  });

  it('a name segment too long for the file system is PATH_INVALID (exit 1), not an internal error', async () => {
    const store = new LocalStore(path.join(dir, 'root'));
    const err = await store.write(`rounds/${'r'.repeat(300)}/plan.json`, '{}').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PATH_INVALID' });
    expect(exitCodeFor(err)).toBe(EXIT.FAILED);
  });

  it('fsError types what a store did not: errno errors get codes, others stay untyped', () => {
    expect(fsError(Object.assign(new Error('x'), { code: 'ENOSPC' }), '/d/f')).toMatchObject({ code: 'STORE_FULL', message: '/d/f: no space left on device' });
    expect(fsError(Object.assign(new Error('x'), { code: 'EBUSY' }), '/d/f')).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
    expect(fsError(new Error('plain'), '/d/f')).toBeNull();
    expect(fsError(Object.assign(new Error('x'), { code: 'EEXIST' }), '/d/f')).toMatchObject({ code: 'PATH_INVALID' });
  });
});

describe('the CLI on a broken disk: one line, a documented exit code', () => {
  let dir: string;
  let out: string[];
  let err: string[];
  const io = () => ({ out: (s: string) => out.push(s), err: (s: string) => err.push(s) });
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-fserr-cli-'));
    out = [];
    err = [];
  });
  afterEach(() => {
    inject.under = null;
    rmSync(dir, { recursive: true, force: true });
  });
  const config = (root: string, stats = 'sink: none') => {
    const cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      `storage:\n  root: ${root}\nstats: { ${stats} }\nworker:\n  threads: 1\nprojects:\n  - name: p\n    task: textcat\n    labels: [a, b]\n    strategy: { name: entropy, topK: 5 }\n`,
    );
    return cfg;
  };
  const oneLine = () => {
    const text = err.join('');
    expect(text.trim().split('\n')).toHaveLength(1);
    expect(text).not.toMatch(/\n\s+at /);
    return text;
  };

  it('round on a root that is a file: exit 78 naming storage.root', async () => {
    const file = path.join(dir, 'root-file');
    writeFileSync(file, 'x');
    expect(await main(['node', 'reviewloop', 'round', '-c', config(file), '--round', '20261201T0200Z'], io())).toBe(EXIT.CONFIG);
    expect(oneLine()).toContain('storage.root');
  });

  it('round on a read-only or full root: exit 69', async () => {
    const root = path.join(dir, 'root');
    const cfg = config(root);
    for (const [errno, code] of [
      ['EROFS', 'STORE_READ_ONLY'],
      ['ENOSPC', 'STORE_FULL'],
    ] as const) {
      err = [];
      inject.under = root;
      inject.errno = errno;
      expect(await main(['node', 'reviewloop', 'round', '-c', cfg, '--round', '20261201T0200Z'], io())).toBe(EXIT.STORE_UNREACHABLE);
      expect(oneLine()).toContain(code);
    }
  });

  it('report --out into a missing folder: exit 2 naming the folder; onto a full disk: exit 69', async () => {
    const cfg = config(path.join(dir, 'root'), `sink: duckdb, path: ${path.join(dir, 'stats.duckdb')}`);
    const missing = path.join(dir, 'no', 'such', 'report.html');
    expect(await main(['node', 'reviewloop', 'report', '-c', cfg, '--out', missing], io())).toBe(EXIT.USAGE);
    expect(oneLine()).toContain(path.join(dir, 'no', 'such'));
    err = [];
    inject.under = path.join(dir, 'full');
    inject.errno = 'ENOSPC';
    expect(await main(['node', 'reviewloop', 'report', '-c', cfg, '--out', path.join(dir, 'full', 'r.html')], io())).toBe(EXIT.STORE_UNREACHABLE);
    expect(oneLine()).toContain('STORE_FULL');
  });
});
