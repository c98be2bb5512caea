import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { errorCode } from '../helpers/errors.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import type { ObjectInfo, ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';

interface Fixture {
  store: ObjectStore;
  /** Another, independent client on the same root: what a second replica sees. */
  another(): ObjectStore;
  cleanup(): Promise<void>;
}

async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of it) out.push(o);
  return out;
}

async function drain(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The one contract every ObjectStore must meet, run against each implementation. */
function conformance(label: string, make: () => Promise<Fixture>): void {
  describe(`ObjectStore conformance: ${label}`, () => {
    let fx: Fixture;
    let store: ObjectStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => fx.cleanup());

    it('writes, stats and reads whole objects with metadata', async () => {
      const info = await store.write('a/b.jsonl', '{"id":1}\n', { contentType: 'application/jsonl', metadata: { round: 'R1' } });
      expect(info).toMatchObject({ name: 'a/b.jsonl', size: 9 });
      expect(info.generation).toMatch(/^[1-9][0-9]*$/);
      const st = await store.stat('a/b.jsonl');
      expect(st).toMatchObject({ name: 'a/b.jsonl', size: 9, generation: info.generation, contentType: 'application/jsonl', metadata: { round: 'R1' } });
      expect(Number.isNaN(Date.parse(st!.updated))).toBe(false);
      expect((await store.read('a/b.jsonl')).toString()).toBe('{"id":1}\n');
      expect(await store.stat('a/missing')).toBeNull();
      expect(await errorCode(store.read('a/missing'))).toBe('NOT_FOUND');
      expect(store.uri('a/b.jsonl')).toMatch(/a\/b\.jsonl$/);
    });

    it('streams whole objects and byte ranges', async () => {
      await store.write('r.bin', Buffer.from('0123456789'));
      expect((await drain(store.readStream('r.bin'))).toString()).toBe('0123456789');
      expect((await drain(store.readStream('r.bin', { range: { start: 2, end: 5 } }))).toString()).toBe('2345');
      expect((await drain(store.readStream('r.bin', { range: { start: 7 } }))).toString()).toBe('789');
      expect(await errorCode(drain(store.readStream('nope.bin')))).toBe('NOT_FOUND');
    });

    it('lists by prefix in name order, across pages, from a startOffset', async () => {
      const names = ['p/c', 'p/a', 'p/b/1', 'p/b/0', 'p/e', 'p/d', 'p-x', 'q/a', 'p/b-z'];
      for (const n of names) await store.write(n, n);
      const under = names.filter((n) => n.startsWith('p/')).sort();
      expect((await collect(store.list('p/', { pageSize: 2 }))).map((o) => o.name)).toEqual(under);
      expect((await collect(store.list('p/', { pageSize: 2, startOffset: 'p/b/1' }))).map((o) => o.name)).toEqual(under.filter((n) => n >= 'p/b/1'));
      expect(await collect(store.list('p'))).toHaveLength(8);
      expect(await collect(store.list(''))).toHaveLength(names.length);
      expect(await collect(store.list('zzz/'))).toEqual([]);
      const [first] = await collect(store.list('p/a'));
      expect(first).toMatchObject({ name: 'p/a', size: 3 });
    });

    it('create-only writes fail with ALREADY_EXISTS and leave the object alone', async () => {
      await store.write('m.json', 'one', { ifGenerationMatch: '0' });
      expect(await errorCode(store.write('m.json', 'two', { ifGenerationMatch: '0' }))).toBe('ALREADY_EXISTS');
      expect(await errorCode(store.writeStream('m.json', Readable.from([Buffer.from('three')]), { ifGenerationMatch: '0' }))).toBe('ALREADY_EXISTS');
      expect((await store.read('m.json')).toString()).toBe('one');
    });

    it('generation-guarded replaces: new, larger generations; CONFLICT on a stale one', async () => {
      const g1 = (await store.write('l.json', 'v1')).generation;
      const g2 = (await store.write('l.json', 'v2', { ifGenerationMatch: g1 })).generation;
      expect(g2).not.toBe(g1);
      expect(BigInt(g2) > BigInt(g1)).toBe(true);
      expect(await errorCode(store.write('l.json', 'v3', { ifGenerationMatch: g1 }))).toBe('CONFLICT');
      expect(await errorCode(store.write('absent.json', 'x', { ifGenerationMatch: '12345' }))).toBe('CONFLICT');
      expect((await store.read('l.json')).toString()).toBe('v2');
      const g3 = (await store.write('l.json', 'v3')).generation;
      expect(BigInt(g3) > BigInt(g2)).toBe(true);
      expect((await store.read('l.json', { generation: g3 })).toString()).toBe('v3');
      expect(await errorCode(store.read('l.json', { generation: g1 }))).toBe('NOT_FOUND');
    });

    it('streams large bodies with preconditions', async () => {
      const big = Buffer.alloc(300 * 1024, 7);
      big.write('head');
      const made = await store.writeStream('big/x.bin', Readable.from([big.subarray(0, 1000), big.subarray(1000)]), { ifGenerationMatch: '0' });
      expect(made.size).toBe(big.length);
      expect(await errorCode(store.writeStream('big/x.bin', Readable.from([big]), { ifGenerationMatch: '0' }))).toBe('ALREADY_EXISTS');
      expect(await errorCode(store.writeStream('big/x.bin', Readable.from([big]), { ifGenerationMatch: '1' }))).toBe('CONFLICT');
      const next = await store.writeStream('big/x.bin', Readable.from([Buffer.from('small')]), { ifGenerationMatch: made.generation });
      expect(next.size).toBe(5);
      expect((await store.read('big/x.bin')).toString()).toBe('small');
    });

    it('deletes with and without a generation precondition', async () => {
      const g = (await store.write('d/x', 'x')).generation;
      expect(await errorCode(store.delete('d/x', { ifGenerationMatch: '1' }))).toBe('CONFLICT');
      expect(await store.stat('d/x')).not.toBeNull();
      await store.delete('d/x', { ifGenerationMatch: g });
      expect(await store.stat('d/x')).toBeNull();
      expect(await errorCode(store.delete('d/x'))).toBe('NOT_FOUND');
      await store.write('d/y', 'y');
      await store.delete('d/y');
      expect(await collect(store.list('d/'))).toEqual([]);
      // Recreating after a delete works (the local store must not leave a folder in the way).
      await store.write('d/y', 'again', { ifGenerationMatch: '0' });
      expect((await store.read('d/y')).toString()).toBe('again');
    });

    it('rejects names that could escape the root with PATH_INVALID', async () => {
      for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a/./b', 'a\u0000b', 'a\nb', 'a\\b', '']) {
        expect(await errorCode(store.write(bad, 'x')), bad).toBe('PATH_INVALID');
        expect(await errorCode(store.read(bad)), bad).toBe('PATH_INVALID');
        expect(await errorCode(store.stat(bad)), bad).toBe('PATH_INVALID');
        expect(await errorCode(store.delete(bad)), bad).toBe('PATH_INVALID');
      }
    });

    it('concurrent create-only writers: exactly one wins', async () => {
      const writers = Array.from({ length: 8 }, (_, i) => (i === 0 ? store : fx.another()));
      const results = await Promise.all(writers.map((s, i) => errorCode(s.write('race/manifest.json', `writer-${i}`, { ifGenerationMatch: '0' }))));
      expect(results.filter((r) => r === 'OK')).toHaveLength(1);
      expect(results.filter((r) => r === 'ALREADY_EXISTS')).toHaveLength(7);
      const winner = results.indexOf('OK');
      expect((await store.read('race/manifest.json')).toString()).toBe(`writer-${winner}`);
    });

    it('concurrent guarded replaces of one generation: exactly one wins', async () => {
      const g = (await store.write('race/LATEST.json', 'v0')).generation;
      const writers = Array.from({ length: 6 }, (_, i) => (i === 0 ? store : fx.another()));
      const results = await Promise.all(writers.map((s, i) => errorCode(s.write('race/LATEST.json', `v1-${i}`, { ifGenerationMatch: g }))));
      expect(results.filter((r) => r === 'OK')).toHaveLength(1);
      expect(results.filter((r) => r === 'CONFLICT')).toHaveLength(5);
      expect((await store.read('race/LATEST.json')).toString()).toBe(`v1-${results.indexOf('OK')}`);
    });
  });
}

conformance('LocalStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rl-local-'));
  return { store: new LocalStore(dir), another: () => new LocalStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

let buckets: TestBucket[] = [];
conformance('GcsStore (fake-gcs-server)', async () => {
  const b = await makeTestBucket('conf');
  buckets.push(b);
  const make = () => new GcsStore(`gs://${b.name}/proj/one`, { apiEndpoint: gcsEndpoint(), resumableThresholdBytes: 64 * 1024 });
  return { store: make(), another: make, cleanup: () => b.cleanup() };
});
afterAll(() => {
  buckets = [];
});

describe('GcsStore retries never duplicate or clobber', () => {
  let bucket: TestBucket;
  let faults: Fault[];
  let retries: string[];
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  let store: GcsStore;
  const isUpload = (m: string, u: string) => m === 'POST' && u.startsWith('/upload/');

  beforeEach(async () => {
    bucket = await makeTestBucket('faults');
    faults = [];
    retries = [];
    // Faults are consumed in order by upload requests; everything else passes.
    proxy = await startFaultProxy(gcsEndpoint(), (m, u) => (isUpload(m, u) || m === 'DELETE' ? (faults.shift() ?? 'pass') : 'pass'));
    store = new GcsStore(`gs://${bucket.name}/p`, {
      apiEndpoint: proxy.endpoint,
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
      onRetry: (_err, _attempt, _delay, op) => retries.push(op),
    });
  });
  afterEach(async () => {
    await proxy.close();
    await bucket.cleanup();
  });

  it('a create-only write whose response was lost succeeds once, without a second object version', async () => {
    faults = ['drop-response'];
    const info = await store.write('rounds/R/manifest.json', '{"round":"R"}', { ifGenerationMatch: '0' });
    expect(retries).toEqual(['write']);
    expect(proxy.log.filter((l) => l.startsWith('POST /upload/'))).toHaveLength(2);
    const st = await store.stat('rounds/R/manifest.json');
    expect(st?.generation).toBe(info.generation);
    expect((await store.read('rounds/R/manifest.json')).toString()).toBe('{"round":"R"}');
  });

  it('a lost response is not mistaken for success when someone else wrote different bytes', async () => {
    await new GcsStore(`gs://${bucket.name}/p`, { apiEndpoint: gcsEndpoint() }).write('x.json', 'theirs', { ifGenerationMatch: '0' });
    faults = ['unavailable'];
    expect(await errorCode(store.write('x.json', 'mine', { ifGenerationMatch: '0' }))).toBe('ALREADY_EXISTS');
    expect((await store.read('x.json')).toString()).toBe('theirs');
  });

  it('a generation-guarded replace whose response was lost succeeds and keeps its bytes', async () => {
    const g = (await store.write('LATEST.json', 'v1')).generation;
    faults = ['drop-response'];
    const info = await store.write('LATEST.json', 'v2', { ifGenerationMatch: g });
    expect(info.generation).not.toBe(g);
    expect((await store.read('LATEST.json')).toString()).toBe('v2');
    expect(retries).toEqual(['write']);
  });

  it('an unguarded write retried after 503 and a lost response lands once', async () => {
    faults = ['unavailable', 'drop-response'];
    await store.write('q.jsonl', 'abc');
    expect(retries).toEqual(['write', 'write']);
    expect((await store.read('q.jsonl')).toString()).toBe('abc');
  });

  it('a resumable upload is retried from the start after a lost session response', async () => {
    const big = Buffer.alloc(9 * 1024 * 1024, 1);
    faults = ['drop-response'];
    const info = await store.writeStream('big.bin', Readable.from([big]), { ifGenerationMatch: '0' });
    expect(info.size).toBe(big.length);
    expect(retries).toEqual(['write']);
  });

  it('a delete whose response was lost counts as done', async () => {
    const g = (await store.write('gone', 'x')).generation;
    faults = ['drop-response'];
    await store.delete('gone', { ifGenerationMatch: g });
    expect(await store.stat('gone')).toBeNull();
    expect(retries).toEqual(['delete']);
  });
});
