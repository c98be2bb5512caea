import { spawn } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../helpers/errors.js';
import { LOCAL_HIDDEN_DIR, LocalStore } from '../../worker/store/local-store.js';
import type { ObjectInfo } from '../../worker/store/store.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function names(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const out: string[] = [];
  for await (const o of it) out.push(o.name);
  return out;
}

describe('LocalStore', () => {
  let dir: string;
  let store: LocalStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rl-ls-'));
    store = new LocalStore(join(dir, 'root'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('never lets a name reach outside the root, nor into its hidden folder', async () => {
    await writeFile(join(dir, 'secret'), 'outside');
    for (const bad of ['../secret', 'a/../../secret', '/tmp/x', `${LOCAL_HIDDEN_DIR}/tmp/x`, `${LOCAL_HIDDEN_DIR}`, 'a//b', 'a/', 'C:\\x', 'a\u007fb']) {
      expect(await errorCode(store.write(bad, 'x')), bad).toBe('PATH_INVALID');
      expect(await errorCode(store.read(bad)), bad).toBe('PATH_INVALID');
    }
    expect(await errorCode(store.stat('../secret'))).toBe('PATH_INVALID');
    expect(await names(store.list(''))).toEqual([]);
  });

  it('keeps temp files, locks and metadata out of list, even mid-write', async () => {
    await store.write('a.txt', 'a', { contentType: 'text/plain', metadata: { k: 'v' } });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // The first write made the temp folder; the next temp file's creation there is the event to wait for.
    const tmpDir = join(dir, 'root', LOCAL_HIDDEN_DIR, 'tmp');
    expect(await readdir(tmpDir)).toEqual([]);
    const watcher = watch(tmpDir);
    const created = once(watcher, 'change');
    // A stream that stalls keeps its temp file open while we list.
    const body = Readable.from(
      (async function* () {
        yield Buffer.from('part1');
        await gate;
        yield Buffer.from('part2');
      })(),
    );
    const pending = store.writeStream('b.txt', body, { ifGenerationMatch: '0' });
    try {
      // A write that fails first fails the test instead of leaving it waiting.
      const [, file] = (await Promise.race([
        created,
        pending.then(() => {
          throw new Error('the write ended while its body stalled');
        }),
      ])) as [string, string];
      expect(String(file)).toMatch(/\.tmp$/);
    } finally {
      watcher.close();
    }
    const hidden = await readdir(tmpDir);
    expect(hidden.length).toBeGreaterThan(0);
    expect(await names(store.list(''))).toEqual(['a.txt']);
    release();
    await pending;
    expect(await names(store.list(''))).toEqual(['a.txt', 'b.txt']);
    expect(await readdir(join(dir, 'root', LOCAL_HIDDEN_DIR, 'tmp'))).toEqual([]);
  });

  it('a failed write leaves neither the object nor a temp file', async () => {
    const body = Readable.from(
      (async function* () {
        yield Buffer.from('x');
        throw new Error('source broke');
      })(),
    );
    await expect(store.writeStream('c.txt', body)).rejects.toThrow('source broke');
    expect(await store.stat('c.txt')).toBeNull();
    expect(await readdir(join(dir, 'root', LOCAL_HIDDEN_DIR, 'tmp'))).toEqual([]);
  });

  it('metadata from an older generation never attaches to a newer one', async () => {
    const g1 = await store.write('m', '1', { metadata: { v: '1' } });
    const g2 = await store.write('m', '2', { ifGenerationMatch: g1.generation });
    expect(g2.metadata).toBeUndefined();
    expect((await store.stat('m'))?.metadata).toBeUndefined();
  });

  it('lists in byte order across folders ("a-c" before "a/b")', async () => {
    for (const n of ['a/b', 'a-c', 'a.d', 'a0', 'b']) await store.write(n, n);
    expect(await names(store.list(''))).toEqual(['a-c', 'a.d', 'a/b', 'a0', 'b']);
    expect(await names(store.list('', { startOffset: 'a/' }))).toEqual(['a/b', 'a0', 'b']);
  });

  it('does not follow a symlinked folder out of the root when listing names it cannot write', async () => {
    await mkdir(join(dir, 'root'), { recursive: true });
    await mkdir(join(dir, 'elsewhere'));
    await writeFile(join(dir, 'elsewhere', 'f'), 'x');
    await symlink(join(dir, 'elsewhere'), join(dir, 'root', 'link'));
    // Dirent types do not follow symlinks: the link is neither file nor folder and is skipped.
    expect(await names(store.list(''))).toEqual([]);
  });

  it('takes over a stale lock left by a crashed writer', async () => {
    const fast = new LocalStore(join(dir, 'root'), { staleLockMs: 1000, lockWaitMs: 5000 });
    await fast.write('x', 'v1');
    const locks = join(dir, 'root', LOCAL_HIDDEN_DIR, 'locks');
    const { createHash } = await import('node:crypto');
    const lock = join(locks, `${createHash('sha256').update('x').digest('hex').slice(0, 40)}.lock`);
    await writeFile(lock, 'crashed');
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await fast.write('x', 'v2');
    expect((await fast.read('x')).toString()).toBe('v2');
    expect(existsSync(lock)).toBe(false);
  });

  it('create-only is atomic across processes: exactly one of several wins', async () => {
    const built = join(ROOT, 'dist', 'worker', 'store', 'local-store.js');
    if (!existsSync(built)) throw new Error(`${built} missing: run the tests with \`npm test\`, which builds first`);
    const script = `
      const { LocalStore } = await import(${JSON.stringify(pathToFileURL(built).href)});
      const s = new LocalStore(process.argv[1]);
      try { await s.write('race/manifest.json', 'p' + process.argv[2], { ifGenerationMatch: '0' }); console.log('OK'); }
      catch (e) { console.log(e.code); }`;
    const run = (i: number) =>
      new Promise<string>((res, rej) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, join(dir, 'root'), String(i)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.on('error', rej);
        child.on('exit', () => res(out.trim()));
      });
    const results = await Promise.all([0, 1, 2, 3, 4, 5].map(run));
    expect(results.filter((r) => r === 'OK')).toHaveLength(1);
    expect(results.filter((r) => r === 'ALREADY_EXISTS')).toHaveLength(5);
    expect((await store.read('race/manifest.json')).toString()).toBe(`p${results.indexOf('OK')}`);
  });
});
