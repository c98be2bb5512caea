import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { reviewChoice } from '../../worker/demo/reviewer.js';
import { importLabels } from '../../worker/merge/import-labels.js';
import { runMerge } from '../../worker/merge/merge.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { readSnapshotRows } from '../../worker/snapshot/snapshot.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { writeOnce } from '../../worker/store/write-once.js';
import { tempDir } from '../helpers/loop.js';

const f = JSON.parse(readFileSync(new URL('../fixtures/label-issues/minority-3x800.json', import.meta.url), 'utf8')) as {
  labels: number[];
  trueLabels: number[];
  predProbs: number[][];
};
const LABELS = ['billing', 'shipping', 'other'];
const ROUND = '20261204T0200Z';

describe('a label-issue verdict on a label that changed since it was shown', () => {
  const pool = new ScoringPool({ threads: 2 });
  afterAll(() => pool.close());

  /** A project whose labels were imported, and a label-issue round over out-of-sample predictions: its three tasks. */
  async function labelRound(name: string) {
    const dir = tempDir(name);
    const project = parseConfig({
      storage: { root: dir },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: LABELS, strategy: { name: 'label-issues', topK: 3 } }],
    }).projects[0];
    const store = projectStore(new LocalStore(dir), 'p');
    const rows = f.labels.map((c, i) => ({
      object: 'l.jsonl',
      line: i + 1,
      value: { id: `x${i}`, label: LABELS[c], text: `item ${i}` },
      rowWord: 'L' as const,
    }));
    await importLabels(store, project, [{ name: 'l.jsonl', sha256: '0', rows }]);
    const preds = f.labels.map((_, i) =>
      JSON.stringify({ id: `x${i}`, text: `item ${i}`, probs: Object.fromEntries(LABELS.map((l, j) => [l, f.predProbs[i][j]])), out_of_sample: true }),
    );
    await writeOnce(store, 'predictions/cv/part-0.jsonl', `${preds.join('\n')}\n`);
    await runRound({ project, store, pool, sink: null, roundId: ROUND, chunkBytes: 8192 });
    const queue = (await store.read(`rounds/${ROUND}/queue.jsonl`))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { accept: string[]; meta: { id: string; label: string } });
    return { project, store, queue };
  }

  it('keeps the current label, keeps the answer, and lists the conflict; a skipped task changes nothing', async () => {
    const { project, store, queue } = await labelRound('liconflict');
    expect(queue).toHaveLength(3);
    // Task 0: shown a label the snapshot no longer has (as if an uncertainty round changed it since).
    const stale = queue[0].meta.label === 'billing' ? 'other' : 'billing';
    const tasks = [{ ...queue[0], meta: { ...queue[0].meta, label: stale } }, queue[1], queue[2]];
    const gold = new Map(tasks.map((t) => [t.meta.id, LABELS.find((l) => l !== t.meta.label && l !== stale) ?? LABELS[0]]));
    const text = reviewChoice(tasks as never, gold, {
      dataset: 'p',
      annotator: { name: 'ann', errorRate: 0, ignoreRate: 0, paceSeconds: 5 },
      startAt: 1_800_000_000,
      labels: LABELS,
      seed: 3,
    });
    // Task 2 skipped: its line becomes an `ignore` answer.
    const lines = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    lines[2] = { ...lines[2], answer: 'ignore' };
    await writeOnce(store, `annotations/${ROUND}/ann.jsonl`, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    const merged = await runMerge({ project, store, sink: null });
    const after = new Map((await readSnapshotRows(store, merged.version!)).map((r) => [r.id, r]));
    const [a, b, c] = queue.map((t) => t.meta.id);
    expect(merged.manifest!.labelIssues).toMatchObject({ changed: 1, verified: 0 });
    expect(merged.manifest!.labelIssues!.conflicts).toEqual([{ id: a, round: ROUND, reason: expect.stringContaining('was shown') }]);
    expect(after.get(a)).toMatchObject({ label: queue[0].meta.label, status: 'labelled', previous_label: null });
    expect(after.get(a)!.answers).toHaveLength(1);
    expect(after.get(b)).toMatchObject({ label: gold.get(b), previous_label: queue[1].meta.label, corrected_round: ROUND });
    expect(after.get(c)).toMatchObject({ label: queue[2].meta.label, status: 'labelled', verified: false });
  });

  it('two reviewers whose verdicts disagree, or a verdict choosing two labels, are listed conflicts and change no label', async () => {
    const { project, store, queue } = await labelRound('lidispute');
    const [a, b] = queue;
    const other = (l: string) => LABELS.find((x) => x !== l)!;
    const answer = (t: (typeof queue)[number], accept: string[], who: string, i: number) =>
      JSON.stringify({ ...t, accept, answer: 'accept', _view_id: 'choice', _session_id: `p-${who}`, _annotator_id: `p-${who}`, _timestamp: 1_800_000_000 + i });
    await writeOnce(
      store,
      `annotations/${ROUND}/ann.jsonl`,
      `${[answer(a, [other(a.meta.label)], 'ann', 1), answer(b, [b.meta.label, other(b.meta.label)], 'ann', 2)].join('\n')}\n`,
    );
    await writeOnce(store, `annotations/${ROUND}/bob.jsonl`, `${answer(a, [a.meta.label], 'bob', 3)}\n`);
    const merged = await runMerge({ project, store, sink: null });
    const after = new Map((await readSnapshotRows(store, merged.version!)).map((r) => [r.id, r]));
    expect(merged.manifest!.labelIssues).toMatchObject({ changed: 0, verified: 0 });
    expect(merged.manifest!.labelIssues!.conflicts.map((c) => [c.id, c.reason.split(':')[0]])).toEqual(
      [
        [a.meta.id, 'verdicts disagree'],
        [b.meta.id, expect.stringContaining('chose 2 labels')],
      ].sort((x, y) => (String(x[0]) < String(y[0]) ? -1 : 1)),
    );
    expect(after.get(a.meta.id)).toMatchObject({ label: a.meta.label, previous_label: null });
    expect(after.get(b.meta.id)).toMatchObject({ label: b.meta.label, previous_label: null });
  });
});
