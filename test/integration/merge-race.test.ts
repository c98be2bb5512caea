import { execFile } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { projectStore } from '../../worker/store/open-store.js';
import { listSnapshots } from '../../worker/snapshot/snapshot.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { tempDir } from '../helpers/loop.js';

const REPO = path.resolve(__dirname, '../..');

/** Runs the CLI; resolves with exit code and output whatever the code. */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = { ...env };
  delete clean.STORAGE_EMULATOR_HOST;
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/reviewloop.js', ...args], { cwd: REPO, env: clean }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface Proxy {
  endpoint: string;
  requests: string[];
  close(): Promise<void>;
}

/**
 * A pass-through proxy in front of the emulator for one merge process. It
 * drops `hide` from object listings, so each process finds "its" new export
 * (as when exports land between two merges' listings), and `gate` may hold a
 * request until the other process gets there too.
 */
async function startProxy(upstream: string, hide: string, gate: (url: string) => Promise<void>): Promise<Proxy> {
  const target = new URL(upstream);
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push(`${req.method} ${url}`);
    const isList = req.method === 'GET' && /^\/storage\/v1\/b\/[^/]+\/o\?/.test(url);
    void gate(decodeURIComponent(url)).then(() => {
      const up = http.request(
        {
          host: '127.0.0.1',
          port: Number(target.port),
          method: req.method,
          path: url,
          headers: { ...req.headers, host: target.host, 'accept-encoding': 'identity' },
        },
        (upRes) => {
          if (!isList || upRes.statusCode !== 200) {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
            return;
          }
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString()) as { items?: Array<{ name: string }> };
            if (body.items) body.items = body.items.filter((o) => !o.name.includes(hide));
            const out = Buffer.from(JSON.stringify(body));
            const headers = { ...upRes.headers, 'content-length': String(out.length) };
            delete headers['transfer-encoding'];
            res.writeHead(200, headers);
            res.end(out);
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      req.pipe(up);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Resolves for everyone once `parties` callers have arrived (or after `timeoutMs`, so a broken run fails instead of hanging). */
function barrier(parties: number, timeoutMs = 30_000) {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const timer = setTimeout(() => open(), timeoutMs);
  return {
    get arrived() {
      return arrived;
    },
    wait(): Promise<void> {
      arrived++;
      if (arrived >= parties) {
        clearTimeout(timer);
        open();
      }
      return opened;
    },
  };
}

const PROJECT = {
  name: 'race',
  task: 'textcat',
  labels: ['a', 'b'],
  strategy: { name: 'margin', topK: 5 },
  merge: { conflict: 'latest' },
};
const answer = (id: string, label: string, who: string, t: number) =>
  JSON.stringify({
    text: `text of ${id}`,
    meta: { id },
    _input_hash: t,
    _task_hash: t + 1,
    answer: 'accept',
    accept: [label],
    _view_id: 'choice',
    _annotator_id: who,
    _timestamp: 1_800_000_000 + t,
  });

describe('two merge processes racing on fake-gcs-server', () => {
  let bucket: TestBucket;
  let dir: string;
  let store: ObjectStore;
  const proxies: Proxy[] = [];

  beforeAll(async () => {
    bucket = await makeTestBucket('race');
    dir = tempDir('race');
    const root = `gs://${bucket.name}/root`;
    store = projectStore(new GcsStore(root, { apiEndpoint: gcsEndpoint() }), 'race');
    // v1 holds item s1; both racers correct it, and each brings one new item.
    await store.write('annotations/r0/seed.jsonl', `${answer('s1', 'a', 'seed', 1)}\n`);
    await runMerge({ project: parseConfig({ storage: { root }, stats: { sink: 'none' }, projects: [PROJECT] }).projects[0], store, sink: null });
    await store.write('annotations/r1/ann.jsonl', `${answer('s1', 'b', 'ann', 10)}\n${answer('x-ann', 'a', 'ann', 11)}\n`);
    await store.write('annotations/r1/bob.jsonl', `${answer('s1', 'b', 'bob', 20)}\n${answer('x-bob', 'b', 'bob', 21)}\n`);
  });
  afterAll(async () => {
    for (const p of proxies) await p.close();
    await bucket?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('end with two consecutive snapshots, every correction in the last, LATEST at it', async () => {
    // Both hold their first snapshot write for v2 until the other is there too: the race is certain, not lucky.
    const atV2 = barrier(2);
    const gate = (url: string) => (/snapshots\/v000002\//.test(url) && /upload/.test(url) ? atV2.wait() : Promise.resolve());
    const configs = [];
    for (const [who, hide] of [
      ['ann', 'bob.jsonl'],
      ['bob', 'ann.jsonl'],
    ]) {
      const proxy = await startProxy(gcsEndpoint(), hide, (u) => gate(u));
      proxies.push(proxy);
      const cfg = path.join(dir, `${who}.yaml`);
      writeFileSync(
        cfg,
        JSON.stringify({ storage: { root: `gs://${bucket.name}/root`, apiEndpoint: proxy.endpoint }, stats: { sink: 'none' }, projects: [PROJECT] }),
      );
      configs.push(cfg);
    }
    const results = await Promise.all(configs.map((cfg) => cli(['merge', '-c', cfg])));
    expect(atV2.arrived, JSON.stringify(results)).toBeGreaterThanOrEqual(2);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const outs = results.map((r) => r.stdout);
    expect(outs.filter((o) => /^snapshot v2 written: 2 answers merged, 2 items/.test(o))).toHaveLength(1);
    expect(outs.filter((o) => /^snapshot v3 written: 2 answers merged, 3 items/.test(o))).toHaveLength(1);
    // The loser re-read the winner's snapshot and re-applied its own export on top.
    expect(results.filter((r) => r.stderr.includes('re-reading and re-applying'))).toHaveLength(1);

    const snaps = await listSnapshots(store);
    expect(snaps.map((s) => [s.version, s.parent])).toEqual([
      [1, null],
      [2, 1],
      [3, 2],
    ]);
    expect(snaps.flatMap((s) => s.consumed.map((c) => c.name)).sort()).toEqual([
      'annotations/r0/seed.jsonl',
      'annotations/r1/ann.jsonl',
      'annotations/r1/bob.jsonl',
    ]);
    const latest = JSON.parse((await store.read('snapshots/LATEST.json')).toString());
    expect(latest).toMatchObject({ version: 3, path: 'snapshots/v000003/', sha256: snaps[2].sha256 });
    const rows = rowsFromJsonl((await store.read('snapshots/v000003/data.jsonl')).toString());
    expect(rows.map((r) => r.id)).toEqual(['s1', 'x-ann', 'x-bob']);
    const s1 = rows.find((r) => r.id === 's1')!;
    expect(s1.answers.map((a) => a.annotator).sort()).toEqual(['ann', 'bob', 'seed']);
    expect(s1.label).toBe('b');
    expect(rows.find((r) => r.id === 'x-ann')!.label).toBe('a');
    expect(rows.find((r) => r.id === 'x-bob')!.label).toBe('b');
  });
});

describe('the lease across processes on fake-gcs-server', () => {
  let bucket: TestBucket;
  let dir: string;
  let script: string;
  let store: ObjectStore;
  const t0 = Date.parse('2026-11-27T02:00:00Z');

  beforeEach(async () => {
    bucket = await makeTestBucket('lease-proc');
    dir = tempDir('lease-proc');
    store = new GcsStore(`gs://${bucket.name}/proj`, { apiEndpoint: gcsEndpoint() });
    // One replica: waits for the start signal, tries the lease with its own clock, exits without releasing (a crash, when it won).
    script = path.join(dir, 'replica.mjs');
    writeFileSync(
      script,
      `
      import { GcsStore } from ${JSON.stringify(path.join(REPO, 'dist/worker/store/gcs-store.js'))};
      import { Lease } from ${JSON.stringify(path.join(REPO, 'dist/worker/daemon/lease.js'))};
      const [root, endpoint, holder, now] = process.argv.slice(2);
      const store = new GcsStore(root, { apiEndpoint: endpoint });
      while (!(await store.stat('go'))) await new Promise((r) => setTimeout(r, 10));
      try {
        const s = await new Lease(store, { holder, ttlMs: 60_000, now: () => Number(now) }).acquire();
        console.log('OK ' + s.holder);
      } catch (err) {
        console.log(err.code ?? String(err));
      }
    `,
    );
  });
  afterEach(async () => {
    await bucket?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const replica = (holder: string, now: number) =>
    new Promise<string>((resolve, reject) => {
      const env = { ...process.env };
      delete env.STORAGE_EMULATOR_HOST;
      execFile(process.execPath, [script, `gs://${bucket.name}/proj`, gcsEndpoint(), holder, String(now)], { env }, (err, stdout, stderr) =>
        err ? reject(new Error(stderr)) : resolve(stdout.trim()),
      );
    });

  it('two processes started together: exactly one holds the lease', async () => {
    const both = Promise.all([replica('p1', t0), replica('p2', t0)]);
    await store.write('go', '');
    const results = await both;
    expect(results.filter((r) => r.startsWith('OK'))).toHaveLength(1);
    expect(results.filter((r) => r === 'LEASE_HELD')).toHaveLength(1);
    const winner = results.find((r) => r.startsWith('OK'))!.slice(3);
    expect(JSON.parse((await store.read('state/lease')).toString()).holder).toBe(winner);
  });

  it('a holder that died without releasing is taken over by another process only after its TTL', async () => {
    await store.write('go', '');
    expect(await replica('crashed', t0)).toBe('OK crashed');
    expect(await replica('p2', t0 + 59_000)).toBe('LEASE_HELD');
    expect(await replica('p2', t0 + 61_000)).toBe('OK p2');
    expect(JSON.parse((await store.read('state/lease')).toString())).toMatchObject({ holder: 'p2', expiresAt: new Date(t0 + 121_000).toISOString() });
  });
});
