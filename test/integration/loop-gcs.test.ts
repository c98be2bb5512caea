import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTENT_LABELS } from '../../worker/demo/data.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { dump, loopConfig, review, runStandardLoop, stageBatch, tempDir, type LoopRun } from '../helpers/loop.js';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '../..');
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** `file:///…/root/` or `gs://bucket/prefix/`: what every URI the loop writes starts with. */
const uriPrefix = (root: ObjectStore) => root.uri('x').slice(0, -1);

/**
 * Replaces the root URI with a placeholder of the same length. Both roots are
 * made the same length, so binary files with offsets (data.arrow) stay
 * byte-comparable after the replacement. latin1 maps bytes 1:1.
 */
function replaceRoot(b: Buffer, uri: string): { bytes: Buffer; hits: number } {
  const parts = b.toString('latin1').split(uri);
  return { bytes: Buffer.from(parts.join(`<${'R'.repeat(uri.length - 2)}>`), 'latin1'), hits: parts.length - 1 };
}

/**
 * What legitimately differs between stores: generations (GCS: microsecond
 * stamps, local: counters), object update times, and the sha256 of files that
 * contain the root URI. Hashes are checked against the root's own bytes
 * first, then masked; everything else must be equal byte for byte.
 */
function normalise(files: Map<string, Buffer>, uri: string): { files: Map<string, string>; hits: Map<string, number> } {
  const out = new Map<string, string>();
  const hits = new Map<string, number>();
  for (const [name, raw] of files) {
    const { bytes, hits: n } = replaceRoot(raw, uri);
    hits.set(name, n);
    if (!/(^|\/)(plan|manifest|LATEST)\.json$/.test(name)) {
      out.set(name, sha(bytes));
      continue;
    }
    const doc = JSON.parse(raw.toString()) as Record<string, unknown>;
    if (/^snapshots\/v\d+\/manifest\.json$/.test(name)) {
      const dir = name.slice(0, name.lastIndexOf('/') + 1);
      for (const [f, meta] of Object.entries(doc.files as Record<string, { sha256: string }>))
        expect(meta.sha256, `${dir}${f}`).toBe(sha(files.get(`${dir}${f}`)!));
      const { sha256, ...body } = doc;
      expect(sha256).toBe(sha(JSON.stringify(body)));
    }
    const mask = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(mask);
      if (v && typeof v === 'object') {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ['generation', 'updatedMax', 'sha256'].includes(k) ? `<${k}>` : mask(x)]));
      }
      return v;
    };
    out.set(name, `${JSON.stringify(mask(JSON.parse(replaceRoot(raw, uri).bytes.toString())), null, 2)}\n`);
  }
  return { files: out, hits };
}

/** Without round claims: their names hash the claimed object's generation, which differs between stores. */
function withoutClaims(files: Map<string, Buffer>): Map<string, Buffer> {
  return new Map([...files].filter(([name]) => !name.startsWith('state/claims/objects/')));
}

/** A gs:// root and a local root whose URI prefixes have the same length. */
function sameLengthRoots(bucket: string, dir: string): { gs: string; local: string } {
  let pfx = 'loop';
  let local = path.join(dir, 'root');
  const diff = uriPrefix(new LocalStore(local)).length - `gs://${bucket}/${pfx}/`.length;
  if (diff > 0) pfx += 'p'.repeat(diff);
  else local += 'l'.repeat(-diff);
  return { gs: `gs://${bucket}/${pfx}`, local };
}

describe('the loop on a gs:// root (fake-gcs-server) equals the loop on a local root', () => {
  let bucket: TestBucket;
  let dir: string;
  let pool: ScoringPool;
  let roots: { gs: string; local: string };
  let onGcs: LoopRun;
  let onLocal: LoopRun;

  beforeAll(async () => {
    bucket = await makeTestBucket('loop');
    dir = tempDir('loopgcs');
    pool = new ScoringPool({ threads: 2 });
    roots = sameLengthRoots(bucket.name, dir);
    const gcsRoot = new GcsStore(roots.gs, { apiEndpoint: gcsEndpoint() });
    onGcs = await runStandardLoop(gcsRoot, loopConfig(roots.gs), { pool });
    onLocal = await runStandardLoop(new LocalStore(roots.local), loopConfig(roots.local), { pool });
  });
  afterAll(async () => {
    await pool?.close();
    await bucket?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the same files with the same bytes, up to the root URI, generations and their hashes', () => {
    const gcsUri = uriPrefix(new GcsStore(roots.gs, { apiEndpoint: gcsEndpoint() }));
    const localUri = uriPrefix(new LocalStore(roots.local));
    expect(gcsUri).toMatch(/^gs:\/\//);
    expect(localUri).toMatch(/^file:\/\//);
    expect(gcsUri.length).toBe(localUri.length);
    const [gcsFiles, localFiles] = [withoutClaims(onGcs.files), withoutClaims(onLocal.files)];
    expect([...gcsFiles.keys()].sort()).toEqual([...localFiles.keys()].sort());
    expect(gcsFiles.size).toBeGreaterThan(25);
    const g = normalise(gcsFiles, gcsUri);
    const l = normalise(localFiles, localUri);
    expect(Object.fromEntries(g.files)).toEqual(Object.fromEntries(l.files));
    // The URI really is in the outputs (provenance), so the comparison above covered it.
    for (const name of [
      'rounds/20261101T0200Z/rejects.jsonl',
      'rounds/20261101T0200Z/queue.jsonl',
      'snapshots/v000002/data.jsonl',
      'snapshots/v000002/data.arrow',
    ]) {
      expect(g.hits.get(name), name).toBeGreaterThan(0);
      expect(l.hits.get(name), name).toBe(g.hits.get(name));
    }
    // Real GCS generations, not counters: the emulator was really used.
    const consumed = onGcs.rounds[0].manifest.consumed[0];
    expect(BigInt(consumed.generation)).toBeGreaterThan(10n ** 12n);
    expect(onGcs.rounds.map((r) => r.status)).toEqual(['created', 'created']);
    expect(onGcs.merges.map((m) => m.version)).toEqual([1, 2]);
  });

  it('runs round and merge from the CLI with storage.root gs://… and storage.apiEndpoint', async () => {
    // Same length as the in-process prefix, so data.arrow compares byte for byte too.
    const cliRoot = `gs://${bucket.name}/${'c'.repeat(roots.gs.length - `gs://${bucket.name}/`.length)}`;
    const cfg = path.join(dir, 'cli.yaml');
    const raw = {
      storage: { root: cliRoot, apiEndpoint: gcsEndpoint() },
      stats: { sink: 'none' },
      projects: [
        {
          name: 'intents',
          task: 'textcat',
          labels: [...INTENT_LABELS],
          strategy: { name: 'entropy', topK: 40, auditFraction: 0.1, seed: 3 },
          queue: { annotators: ['ann', 'bob'], overlap: 2 },
          merge: { conflict: 'majority' },
        },
      ],
    };
    writeFileSync(cfg, JSON.stringify(raw)); // JSON is YAML
    const store = projectStore(new GcsStore(cliRoot, { apiEndpoint: gcsEndpoint() }), 'intents');
    const gold = await stageBatch(store, 0);
    const env = { ...process.env };
    delete env.STORAGE_EMULATOR_HOST; // the config's apiEndpoint is the only way in
    const cli = (...args: string[]) => run(process.execPath, ['bin/reviewloop.js', ...args, '-c', cfg], { cwd: REPO, env });
    const r = await cli('round', '--round', '20261101T0200Z');
    expect(r.stdout).toContain('round 20261101T0200Z written: 40 queued (4 audit) from 400 scored, 2 rejected');
    expect(r.stdout).toContain(`queue: ${cliRoot}/intents/rounds/20261101T0200Z/queue.jsonl`);
    await review(store, '20261101T0200Z', gold);
    const m = await cli('merge');
    expect(m.stdout).toMatch(/^snapshot v1 written: \d+ answers merged, 40 items/);

    const files = await dump(store);
    expect(files.has('snapshots/LATEST.json')).toBe(true);
    const cliNorm = normalise(files, uriPrefix(new GcsStore(cliRoot)));
    const inProc = normalise(onGcs.files, uriPrefix(new GcsStore(roots.gs)));
    const firstRound = [...files.keys()].filter((n) => !n.startsWith('rounds/20261108T0200Z/'));
    for (const name of firstRound) {
      // state/: claims (named by generation) and stats markers (the CLI's sink: none writes them too) are bookkeeping, not outputs.
      if (name.startsWith('annotations/') || name.startsWith('predictions/') || name.startsWith('state/')) continue;
      if (name === 'snapshots/LATEST.json') continue; // v1 here, v2 in the two-round run
      expect(cliNorm.files.get(name), name).toBe(inProc.files.get(name));
    }
  });
});
