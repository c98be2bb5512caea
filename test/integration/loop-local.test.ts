import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { runRound } from '../../worker/round/round.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { parseConfig } from '../../config/parse.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { SnapshotRow } from '../../domain/records.js';
import { dump, duckdbSink, loopConfig, review, runStandardLoop, stageBatch, tempDir, type LoopRun } from '../helpers/loop.js';

// Deep-comparing Buffers in vitest is slow; hashes say the same.
const digest = (files: Map<string, Buffer>) => Object.fromEntries([...files].map(([k, v]) => [k, createHash('sha256').update(v).digest('hex')]));
const FIXTURES = path.resolve(__dirname, '../fixtures/prodigy');

describe('the loop on a local root', () => {
  let dir: string;
  let run: LoopRun;
  let pool: ScoringPool;
  const lines = (b: Buffer | undefined) =>
    (b ?? Buffer.alloc(0))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));

  beforeAll(async () => {
    dir = tempDir('loop');
    pool = new ScoringPool({ threads: 2 });
    const sink = await duckdbSink(dir);
    run = await runStandardLoop(new LocalStore(path.join(dir, 'root')), loopConfig(path.join(dir, 'root')), { pool, sink });
    await sink.close();
  });
  afterAll(async () => {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the storage layout of docs/storage.md', () => {
    const names = [...run.files.keys()];
    for (const r of ['20261101T0200Z', '20261108T0200Z']) {
      for (const f of ['queue.jsonl', 'queue-ann.jsonl', 'queue-bob.jsonl', 'rejects.jsonl', 'manifest.json', 'items.jsonl', 'plan.json'])
        expect(names).toContain(`rounds/${r}/${f}`);
    }
    for (const v of ['v000001', 'v000002']) for (const f of ['data.arrow', 'data.jsonl', 'manifest.json']) expect(names).toContain(`snapshots/${v}/${f}`);
    expect(JSON.parse(run.files.get('snapshots/LATEST.json')!.toString())).toMatchObject({ version: 2, path: 'snapshots/v000002/' });
    expect(names.some((n) => n.includes('.reviewloop-tmp') || n.includes('.tmp'))).toBe(false);
  });

  it('queues in priority order with audit items interleaved, hashes in the signed 32-bit range', () => {
    const q = lines(run.files.get('rounds/20261101T0200Z/queue.jsonl'));
    expect(q).toHaveLength(40);
    const unc = q.filter((t) => !t.meta.audit).map((t) => t.meta.score);
    expect(unc).toEqual([...unc].sort((a, b) => b - a));
    expect(q.filter((t) => t.meta.audit)).toHaveLength(4);
    expect(q.map((t) => t.meta.rank)).toEqual(q.map((_, i) => i + 1));
    for (const t of q) {
      expect(Number.isInteger(t._input_hash) && t._input_hash >= -(2 ** 31) && t._input_hash < 2 ** 31).toBe(true);
      expect(t.meta).toMatchObject({
        round: '20261101T0200Z',
        strategy: 'entropy',
        model: 'm0',
        source: expect.stringMatching(/predictions\/b0\/part-0\.jsonl\.gz#L\d+$/),
      });
    }
  });

  it('quarantines bad records with object, line and reason, and goes on', () => {
    const rejects = lines(run.files.get('rounds/20261101T0200Z/rejects.jsonl'));
    expect(rejects).toEqual([
      { object: expect.stringMatching(/part-0\.jsonl\.gz$/), line: 401, reason: expect.stringMatching(/^malformed JSON/) },
      { object: expect.stringMatching(/part-0\.jsonl\.gz$/), line: 402, reason: 'probability is string, not a number', field: 'probs.billing', id: 'nan' },
    ]);
    expect(run.rounds[0].manifest.counts).toMatchObject({ read: 402, scored: 400, rejected: 2, queued: 40, audit: 4 });
  });

  it('never queues an item twice across rounds and merges every answer once', () => {
    const q1 = lines(run.files.get('rounds/20261101T0200Z/queue.jsonl')).map((t) => t.meta.id);
    const q2 = lines(run.files.get('rounds/20261108T0200Z/queue.jsonl')).map((t) => t.meta.id);
    expect(new Set([...q1, ...q2]).size).toBe(80);
    const rows = rowsFromJsonl(run.files.get('snapshots/v000002/data.jsonl')!.toString());
    expect(rows).toHaveLength(80);
    const answers = rows.flatMap((r) => r.answers.map((a) => a.source));
    const exported = [...run.files.keys()].filter((n) => n.startsWith('annotations/')).flatMap((n) => lines(run.files.get(n)).map((_, i) => `${n}#L${i + 1}`));
    expect(answers.sort()).toEqual(exported.sort());
    expect(rows.filter((r) => r.provenance === 'round')).toHaveLength(80);
    expect(rows.find((r) => r.audit)?.inclusion_p).toBeCloseTo(4 / 400);
  });

  it('writes data.arrow that reads back with the same rows as data.jsonl', () => {
    const table = tableFromIPC(run.files.get('snapshots/v000002/data.arrow')!);
    const rows = rowsFromJsonl(run.files.get('snapshots/v000002/data.jsonl')!.toString());
    expect(table.numRows).toBe(rows.length);
    expect(table.getChild('id')!.toArray()).toEqual(rows.map((r) => r.id));
    expect(table.getChild('label')!.toArray()).toEqual(rows.map((r) => r.label));
  });

  it('is idempotent: re-running a round or a merge changes nothing and says so', async () => {
    const root = new LocalStore(path.join(dir, 'root'));
    const config = loopConfig(path.join(dir, 'root'));
    const store = projectStore(root, 'intents');
    const before = digest(await dump(store));
    const r = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: '20261101T0200Z', chunkBytes: 4096 });
    expect(r.status).toBe('exists');
    const m = await runMerge({ project: config.projects[0], store, sink: null });
    expect(m.status).toBe('nothing-new');
    expect(digest(await dump(store))).toEqual(before);
  });

  it('completes a round after a crash before its manifest with the same bytes', async () => {
    const root = new LocalStore(path.join(dir, 'root'));
    const config = loopConfig(path.join(dir, 'root'));
    const store = projectStore(root, 'intents');
    const want = await store.read('rounds/20261108T0200Z/manifest.json');
    // The manifest is the commit point: without it the round does not exist yet.
    await store.delete('rounds/20261108T0200Z/manifest.json');
    const r = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: '20261108T0200Z', chunkBytes: 999 });
    expect(r.status).toBe('created');
    expect((await store.read('rounds/20261108T0200Z/manifest.json')).equals(want)).toBe(true);
  });

  it('writes round and merge stats to DuckDB once per batch', async () => {
    const sink = await duckdbSink(dir);
    try {
      expect(await sink.query('SELECT round_id, items_queued FROM rounds ORDER BY round_id')).toEqual([
        { round_id: '20261101T0200Z', items_queued: 40 },
        { round_id: '20261108T0200Z', items_queued: 40 },
      ]);
      expect((await sink.query("SELECT count(*) AS n FROM label_quality WHERE label = '*' AND slice = 'all' AND scope = 'snapshot'"))[0].n).toBe(2);
      expect(await sink.query('SELECT snapshot_version, items FROM snapshots ORDER BY 1')).toEqual([
        { snapshot_version: 1, items: 40 },
        { snapshot_version: 2, items: 80 },
      ]);
    } finally {
      await sink.close();
    }
  });
});

describe('re-queueing and re-exports', () => {
  it('queues an item again only when the model version changed', async () => {
    const dir = tempDir('requeue');
    const pool = new ScoringPool({ threads: 1 });
    try {
      // `again/` sorts before the consumed `b0/`: an incremental listing would see it only at the next full rescan (worker/store/listing.ts).
      const config = loopConfig(dir, { strategy: { name: 'entropy', topK: 1000, seed: 1 }, queue: {}, predictions: { listing: { mode: 'full' } } });
      const store = projectStore(new LocalStore(dir), 'intents');
      await stageBatch(store, 0, 50);
      const r1 = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: 'r1', chunkBytes: 4096 });
      expect(r1.manifest.counts.queued).toBe(50);
      // Same ids, same model → skipped; same ids, new model → queued again.
      const same = await store.read('predictions/b0/part-0.jsonl.gz');
      await store.write('predictions/again/same-model.jsonl.gz', same);
      const r2 = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: 'r2', chunkBytes: 4096 });
      expect(r2.manifest.counts).toMatchObject({ queued: 0, skipped: 50 });
      const { gunzipSync } = await import('node:zlib');
      const text = gunzipSync(same)
        .toString()
        .replace(/"model":"m0"/g, '"model":"m9"');
      await store.write('predictions/again/new-model.jsonl', text);
      const r3 = await runRound({ project: config.projects[0], store, pool, sink: null, roundId: 'r3', chunkBytes: 4096 });
      expect(r3.manifest.counts.queued).toBe(50);
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges a re-exported file (new generation) without duplicating answers, and reports bad lines', async () => {
    const dir = tempDir('reexport');
    const pool = new ScoringPool({ threads: 1 });
    try {
      const config = loopConfig(dir, { queue: { annotators: ['ann', 'bob'], overlap: 1 } });
      const store = projectStore(new LocalStore(dir), 'intents');
      const gold = await stageBatch(store, 0, 60);
      await runRound({ project: config.projects[0], store, pool, sink: null, roundId: 'r1', chunkBytes: 4096 });
      await review(store, 'r1', gold);
      const m1 = await runMerge({ project: config.projects[0], store, sink: null });
      const ann = (await store.read('annotations/r1/ann.jsonl')).toString();
      await store.write('annotations/r1/ann.jsonl', `${ann}{"broken json\n`);
      const m2 = await runMerge({ project: config.projects[0], store, sink: null });
      expect(m2.status).toBe('created');
      expect(m2.manifest!.counts).toMatchObject({ answers: 0, duplicates: ann.split('\n').filter(Boolean).length, badLines: 1 });
      expect(m2.badLines).toEqual([
        {
          object: 'annotations/r1/ann.jsonl',
          line: ann.split('\n').filter(Boolean).length + 1,
          field: '(line)',
          reason: expect.stringMatching(/^malformed JSON/),
        },
      ]);
      expect(m2.manifest!.counts.items).toBe(m1.manifest!.counts.items);
      expect((await store.read('snapshots/v000002/rejects.jsonl')).toString()).toContain('malformed JSON');
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges the real Prodigy exports into the projects they fit, every line accounted for, and rejects them elsewhere', async () => {
    const dir = tempDir('fixtures');
    try {
      const config = parseConfig({
        storage: { root: dir },
        stats: { sink: 'none' },
        projects: [
          { name: 'ext', task: 'ner', labels: ['FASHION_BRAND', 'PERSON'], strategy: { name: 'span-min', topK: 5 } },
          { name: 'docs', task: 'textcat', labels: ['DOCUMENTATION', 'OTHER'], strategy: { name: 'entropy', topK: 5 } },
          {
            name: 'links',
            task: 'textcat',
            labels: ['Q48226', 'Q215952', 'Q312545', 'NIL_otherLink', 'NIL_ambiguous'],
            strategy: { name: 'entropy', topK: 5 },
          },
        ],
      });
      const files: Record<string, string[]> = {
        ext: ['ner_manual_fashion_brands.jsonl', 'ner_manual_tweets_with_ignore.jsonl'],
        docs: ['textcat_binary_docs_issues.jsonl'],
        links: ['choice_entity_links.jsonl'],
      };
      const rowsOf: Record<string, SnapshotRow[]> = {};
      for (const [i, project] of config.projects.entries()) {
        const store = projectStore(new LocalStore(dir), project.name);
        let total = 0;
        for (const f of files[project.name]) {
          const text = readFileSync(path.join(FIXTURES, f));
          total += text.toString().split('\n').filter(Boolean).length;
          await store.write(`annotations/external/${f}`, text);
        }
        const m = await runMerge({ project: config.projects[i], store, sink: null });
        expect(m.badLines).toEqual([]);
        const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
        expect(rows.every((r) => r.provenance === 'external')).toBe(true);
        expect(rows.reduce((n, r) => n + r.answers.length, 0) + m.manifest!.counts.duplicates).toBe(total);
        rowsOf[project.name] = rows;
      }
      expect(rowsOf.ext.filter((r) => r.status === 'ignored').length).toBeGreaterThan(0);
      expect(rowsOf.docs.filter((r) => r.negatives.includes('DOCUMENTATION')).length).toBeGreaterThan(0);
      const ner = rowsOf.ext.find((r) => r.spans && r.spans.length > 0 && r.tokens);
      expect(ner?.spans?.[0]).toMatchObject({ token_start: expect.any(Number), token_end: expect.any(Number) });
      // The entity-linking task shows its entity as a context span: the answer is the chosen option only.
      expect(rowsOf.links.every((r) => r.spans === null && r.labels.length === 1)).toBe(true);

      // The same exports pushed into a project they do not fit: every line rejected, nothing labelled.
      const wrong = projectStore(new LocalStore(dir), 'docs');
      await wrong.write('annotations/external/ner.jsonl', readFileSync(path.join(FIXTURES, 'ner_manual_tweets_with_ignore.jsonl')));
      const m = await runMerge({ project: config.projects[1], store: wrong, sink: null });
      const n = readFileSync(path.join(FIXTURES, 'ner_manual_tweets_with_ignore.jsonl'), 'utf8').split('\n').filter(Boolean).length;
      expect(m.badLines).toHaveLength(n);
      expect(new Set(m.badLines.map((b) => b.field))).toEqual(new Set(['_view_id']));
      expect(m.manifest!.counts.answers).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
