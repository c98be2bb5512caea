import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import type { RoundManifest, SnapshotManifest, SnapshotRow } from '../../domain/records.js';
import { reviewChoice } from '../../worker/demo/reviewer.js';
import { importLabels } from '../../worker/merge/import-labels.js';
import { runMerge } from '../../worker/merge/merge.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { readSnapshotRows } from '../../worker/snapshot/snapshot.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { writeOnce } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { duckdbSink, tempDir } from '../helpers/loop.js';
import type { StatsSink } from '../../worker/stats/sinks/sink.js';

/** The cleanlab fixture: 3,000 tickets, 4 labels, injected flips, cleanlab's ranked issues. */
const f = JSON.parse(readFileSync(new URL('../fixtures/label-issues/blobs-4x3000.json', import.meta.url), 'utf8')) as {
  labels: number[];
  trueLabels: number[];
  predProbs: number[][];
  expected: { selfConfidence: { indices: number[] } };
};
const LABELS = ['billing', 'shipping', 'returns', 'other'];
const TOP = 60;
const ROUND = '20261203T0200Z';

function config(root: string) {
  return parseConfig({
    storage: { root },
    stats: { sink: 'none' },
    projects: [{ name: 'tickets', task: 'textcat', labels: LABELS, strategy: { name: 'label-issues', topK: TOP } }],
  });
}

interface Outcome {
  imported: Awaited<ReturnType<typeof importLabels>>;
  again: Awaited<ReturnType<typeof importLabels>>;
  round: RoundManifest;
  rerun: 'created' | 'exists';
  queue: Array<Record<string, unknown>>;
  rejects: Array<Record<string, unknown>>;
  merged: SnapshotManifest;
  rows: Map<string, SnapshotRow>;
}

async function scenario(root: ObjectStore, rootUri: string, pool: ScoringPool, sink: StatsSink | null = null): Promise<Outcome> {
  const project = config(rootUri).projects[0];
  const store = projectStore(root, project.name);
  // Existing training data: the given (partly flipped) labels, one conflicting duplicate.
  const lines = f.labels.map((c, i) => JSON.stringify({ id: `t${i}`, label: LABELS[c], text: `ticket ${i}` }));
  lines.push(JSON.stringify({ id: 'dup', label: 'billing', text: 'x' }), JSON.stringify({ id: 'dup', label: 'other', text: 'x' }));
  const bytes = Buffer.from(`${lines.join('\n')}\n`);
  const file = {
    name: 'train.jsonl',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    rows: lines.map((value, i) => ({ object: 'train.jsonl', line: i + 1, value: JSON.parse(value), rowWord: 'L' as const })),
  };
  const imported = await importLabels(store, project, [file]);
  const again = await importLabels(store, project, [file]);
  // Out-of-sample predictions in two objects, plus two lines this strategy must reject.
  const pred = (i: number) =>
    JSON.stringify({
      id: `t${i}`,
      text: `ticket ${i}`,
      probs: Object.fromEntries(LABELS.map((l, j) => [l, f.predProbs[i][j]])),
      model: 'cv5',
      out_of_sample: true,
    });
  const all = f.labels.map((_, i) => pred(i));
  await writeOnce(
    store,
    'predictions/cv/part-0.jsonl',
    `${all.slice(0, 1700).join('\n')}\n${JSON.stringify({ id: 't1', text: 'x', probs: { billing: 1, shipping: 0, returns: 0, other: 0 } })}\n`,
  );
  await writeOnce(
    store,
    'predictions/cv/part-1.jsonl.gz',
    gzipSync(
      `${all.slice(1700).join('\n')}\n${JSON.stringify({ id: 'ghost', text: 'x', probs: { billing: 1, shipping: 0, returns: 0, other: 0 }, out_of_sample: true })}\n`,
    ),
    'application/gzip',
  );
  const opts = { project, store, pool, sink: null, roundId: ROUND, chunkBytes: 32 * 1024 };
  const round = (await runRound(opts)).manifest;
  const rerun = (await runRound(opts)).status;
  const read = async (name: string) =>
    (await store.read(name))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const queue = await read(`rounds/${ROUND}/queue.jsonl`);
  const rejects = await read(`rounds/${ROUND}/rejects.jsonl`);
  // Reviewers who always pick the true label.
  const gold = new Map(f.trueLabels.map((c, i) => [`t${i}`, LABELS[c]]));
  const text = reviewChoice(queue as never, gold, {
    dataset: 'tickets',
    annotator: { name: 'ann', errorRate: 0, ignoreRate: 0, paceSeconds: 5 },
    startAt: 1_800_000_000,
    labels: LABELS,
    seed: 1,
  });
  await writeOnce(store, `annotations/${ROUND}/ann.jsonl`, text, 'application/x-ndjson');
  const merged = (await runMerge({ project, store, sink })).manifest!;
  const rows = new Map((await readSnapshotRows(store, merged.version)).map((r) => [r.id, r]));
  return { imported, again, round, rerun, queue, rejects, merged, rows };
}

describe('a label-issue round on the GCS emulator and a local root', () => {
  let bucket: TestBucket;
  let pool: ScoringPool;
  let sink: StatsSink;
  const outcomes: Array<[string, Outcome]> = [];
  beforeAll(async () => {
    bucket = await makeTestBucket('labelissues');
    pool = new ScoringPool({ threads: 2 });
    const gs = `gs://${bucket.name}/root`;
    outcomes.push(['gcs', await scenario(new GcsStore(gs, { apiEndpoint: gcsEndpoint() }), gs, pool)]);
    const dir = tempDir('labelissues');
    sink = await duckdbSink(dir);
    outcomes.push(['local', await scenario(new LocalStore(dir), dir, pool, sink)]);
  });
  afterAll(async () => {
    await sink?.close();
    await pool?.close();
    await bucket?.cleanup();
  });

  it('imports the labels once: conflicting duplicates rejected on both lines, a second import adds nothing', () => {
    for (const [, o] of outcomes) {
      expect([o.imported.status, o.imported.version, o.imported.added]).toEqual(['created', 1, 3000]);
      expect(o.imported.rejects.map((r) => [r.line, r.field, r.id])).toEqual([
        [3001, 'label', 'dup'],
        [3002, 'label', 'dup'],
      ]);
      expect([o.again.status, o.again.version, o.again.added, o.again.unchanged]).toEqual(['nothing-new', 1, 0, 3000]);
    }
  });

  it("queues cleanlab's top issues in cleanlab's order, as choice tasks with the current label pre-selected", () => {
    for (const [, o] of outcomes) {
      const ids = o.queue.map((t) => (t.meta as { id: string }).id);
      expect(ids).toEqual(f.expected.selfConfidence.indices.slice(0, TOP).map((i) => `t${i}`));
      const first = o.queue[0] as { accept: string[]; options: unknown[]; meta: Record<string, unknown> };
      const i = f.expected.selfConfidence.indices[0];
      expect(first.accept).toEqual([LABELS[f.labels[i]]]);
      expect(first.options).toHaveLength(4);
      expect(first.meta).toMatchObject({ strategy: 'label-issues', label: LABELS[f.labels[i]], label_snapshot: 1, rank: 1 });
      expect(o.round.labelIssues).toMatchObject({ snapshotVersion: 1, items: 3000 });
      expect(o.round.labelIssues!.flagged.reduce((a, b) => a + b, 0)).toBe(f.expected.selfConfidence.indices.length);
      expect(o.rerun).toBe('exists');
    }
  });

  it('rejects records without out_of_sample and ids with no label, with object, line, field and reason', () => {
    for (const [, o] of outcomes) {
      expect(o.rejects.map((r) => [String(r.object).replace(/^.*predictions\//, ''), r.line, r.field])).toEqual([
        ['cv/part-0.jsonl', 1701, 'out_of_sample'],
        ['cv/part-1.jsonl.gz', 1301, 'id'],
      ]);
      expect(String(o.rejects[1].reason)).toMatch(/no label for this id in snapshot v1/);
    }
  });

  it('merges the verdicts as a new version: changed labels keep their lineage, kept labels are verified', () => {
    for (const [, o] of outcomes) {
      const queued = o.queue.map((t) => Number((t.meta as { id: string }).id.slice(1)));
      const wrong = queued.filter((i) => f.labels[i] !== f.trueLabels[i]);
      expect(o.merged.version).toBe(2);
      expect(o.merged.labelIssues).toEqual({ changed: wrong.length, verified: queued.length - wrong.length, conflicts: [] });
      const fixed = o.rows.get(`t${wrong[0]}`)!;
      expect(fixed).toMatchObject({
        label: LABELS[f.trueLabels[wrong[0]]],
        previous_label: LABELS[f.labels[wrong[0]]],
        corrected_version: 2,
        corrected_round: ROUND,
        provenance: 'import',
      });
      const kept = queued.find((i) => f.labels[i] === f.trueLabels[i]);
      if (kept !== undefined) expect(o.rows.get(`t${kept}`)).toMatchObject({ label: LABELS[f.labels[kept]], verified: true, verified_round: ROUND });
    }
  });

  it('the label_issues table counts flagged, reviewed and changed items per label, with precision and its Wilson interval', async () => {
    const o = outcomes[1][1];
    const rows = await sink.query(
      'SELECT label, flagged, reviewed, changed, precision, precision_low, precision_high, noise_rate FROM label_issues WHERE round_id = @r AND snapshot_version = @v ORDER BY label',
      { r: ROUND, v: o.merged.version },
    );
    const queued = o.queue.map((t) => Number((t.meta as { id: string }).id.slice(1)));
    for (const [j, label] of LABELS.entries()) {
      const mine = queued.filter((i) => f.labels[i] === j);
      const changed = mine.filter((i) => f.trueLabels[i] !== j).length;
      const row = rows.find((r) => r.label === label)!;
      expect(row).toMatchObject({ flagged: mine.length, reviewed: mine.length, changed });
      if (mine.length > 0) {
        expect(row.precision).toBeCloseTo(changed / mine.length, 12);
        expect(Number(row.precision_low)).toBeLessThanOrEqual(Number(row.precision));
        expect(Number(row.precision_high)).toBeGreaterThanOrEqual(Number(row.precision));
      }
      expect(row.noise_rate).toBeCloseTo(o.round.labelIssues!.noiseRates[j]!, 12);
    }
  });

  it('writes the same queue on both roots, but for the root in meta.source', () => {
    const rel = (q: Array<Record<string, unknown>>) => JSON.stringify(q).replace(/"source":"[^"]*\/tickets\//g, '"source":"ROOT/tickets/');
    expect(rel(outcomes[0][1].queue)).toEqual(rel(outcomes[1][1].queue));
    expect(rel(outcomes[0][1].queue)).not.toContain('gs://');
  });
});
