import { describe, expect, it } from 'vitest';
import { NO_LINEAGE, applyVerdict } from '../../domain/label-issues/lineage.js';
import { planImport } from '../../domain/label-issues/import.js';
import { labelIssueStats, verdictsIn } from '../../domain/label-issues/stats.js';
import { buildLabelIssueTask } from '../../domain/label-issues/task.js';
import { buildTask, inputHash } from '../../domain/prodigy/tasks.js';
import { itemScores } from '../../scoring/label-issues/prune.js';

const LABELS = ['billing', 'shipping', 'other'];

describe('label-issue queue task', () => {
  const probs = { billing: 0.1, shipping: 0.85, other: 0.05 };
  const issue = {
    at: { object: 'gs://b/p/predictions/part-0.jsonl', line: 7 },
    scores: itemScores(0, [0.1, 0.85, 0.05], 0, 3),
    payload: { id: 'm7', text: 'Where is my parcel?', probs },
    cells: [1],
  };
  const ctx = { project: 'support', round: '20261203T0200Z', labels: LABELS, rankBy: 'self-confidence' as const, snapshotVersion: 4 };
  const t = buildLabelIssueTask(ctx, issue, 1);
  it('is a choice over the labels with the current label pre-selected, meta naming its snapshot, score, suggestion and reason', () => {
    expect(t.options).toEqual(LABELS.map((l) => ({ id: l, text: l })));
    expect(t.accept).toEqual(['billing']);
    expect(t.meta).toMatchObject({
      id: 'm7',
      round: '20261203T0200Z',
      strategy: 'label-issues',
      rank: 1,
      label: 'billing',
      label_snapshot: 4,
      self_confidence: 0.1,
      suggested: 'shipping',
      source: 'gs://b/p/predictions/part-0.jsonl#L7',
    });
    expect((t.meta as { reason: string }).reason).toContain('shipping 0.85');
    expect(t._input_hash).toBe(inputHash('support', 'm7'));
  });
  it('has a task hash of its own, not that of an uncertainty task on the same item', () => {
    const uncertainty = buildTask(
      { project: 'support', round: 'r', task: 'textcat', view: 'choice', labels: LABELS, strategy: 'entropy', acceptThreshold: 0.5 },
      { entry: { id: 'm7', score: 1, u: 0, source: issue.at, record: { id: 'm7', text: 'x', probs } }, rank: 1, audit: false },
    );
    expect(uncertainty._input_hash).toBe(t._input_hash);
    expect(uncertainty._task_hash).not.toBe(t._task_hash);
  });
});

describe('label-issue verdicts and lineage', () => {
  const v = { shown: 'billing', labelSnapshot: 4, round: 'R1', chosen: 'shipping' };
  it('a changed label keeps the previous one, the version and the round', () => {
    expect(applyVerdict({ label: 'billing', lineage: NO_LINEAGE }, v, 6)).toEqual({
      kind: 'changed',
      label: 'shipping',
      lineage: { previous_label: 'billing', corrected_version: 6, corrected_round: 'R1', verified: false, verified_round: null },
    });
  });
  it('a kept label is verified', () => {
    expect(applyVerdict({ label: 'billing', lineage: NO_LINEAGE }, { ...v, chosen: 'billing' }, 6)).toMatchObject({
      kind: 'verified',
      label: 'billing',
      lineage: { verified: true, verified_round: 'R1' },
    });
  });
  it('a label changed in between (an uncertainty round) is a conflict and stays', () => {
    const r = applyVerdict({ label: 'other', lineage: NO_LINEAGE }, v, 6);
    expect(r).toMatchObject({ kind: 'conflict', label: 'other', lineage: NO_LINEAGE });
  });
  it('no choice is no verdict', () => {
    expect(applyVerdict({ label: 'billing', lineage: NO_LINEAGE }, { ...v, chosen: null }, 6).kind).toBe('no-verdict');
  });
});

describe('label_issues stats', () => {
  it('per round and label: flagged, reviewed, changed, precision with a Wilson interval, noise rate', () => {
    const rows = labelIssueStats(
      [{ round: 'R1', labels: ['a', 'b'], flagged: [10, 0], noiseRates: [0.2, null] }],
      [...Array(8).fill({ round: 'R1', label: 'a', changed: true }), ...Array(2).fill({ round: 'R1', label: 'a', changed: false })],
    );
    expect(rows[0]).toMatchObject({ round: 'R1', label: 'a', flagged: 10, reviewed: 10, changed: 8, precision: 0.8, noise_rate: 0.2 });
    // Wilson 95 % for 8 / 10.
    expect(rows[0].precision_low).toBeCloseTo(0.4902, 4);
    expect(rows[0].precision_high).toBeCloseTo(0.9433, 4);
    expect(rows[1]).toEqual({
      round: 'R1',
      label: 'b',
      flagged: 0,
      reviewed: 0,
      changed: 0,
      precision: null,
      precision_low: null,
      precision_high: null,
      noise_rate: null,
    });
  });
});

describe('import-labels plan', () => {
  const raw = (line: number, value: unknown) => ({ object: 'train.jsonl', line, value, rowWord: 'L' as const });
  it('adds new ids, keeps same-label repeats once, rejects conflicts on every line, never overwrites the snapshot', () => {
    const plan = planImport(
      [
        raw(1, { id: 'a', label: 'billing', text: 'A' }),
        raw(2, { id: 'b', label: 'shipping', text: 'B' }),
        raw(3, { id: 'b', label: 'other', text: 'B' }),
        raw(4, { id: 'a', label: 'billing', text: 'A' }),
        raw(5, { id: 'c', label: 'billing', text: 'C' }),
        raw(6, { id: 'd', label: 'shipping', text: 'D' }),
        raw(7, { id: 'e', label: 'refunds', text: 'E' }),
        raw(8, { id: 'f', label: 'billing' }),
        raw(9, { id: 7, label: 'other', text: 'seven' }),
      ],
      LABELS,
      new Map([
        ['c', 'billing'],
        ['d', 'other'],
      ]),
    );
    expect(plan.add.map((r) => [r.id, r.label, r.source])).toEqual([
      ['7', 'other', 'train.jsonl#L9'],
      ['a', 'billing', 'train.jsonl#L1'],
    ]);
    expect(plan.unchanged).toBe(1);
    expect(plan.rejects.map((r) => [r.line, r.field, r.id])).toEqual([
      [2, 'label', 'b'],
      [3, 'label', 'b'],
      [6, 'label', 'd'],
      [7, 'label', 'e'],
      [8, 'text', 'f'],
    ]);
    expect(plan.rejects[0].reason).toMatch(/conflicting labels/);
    expect(plan.rejects[2].reason).toMatch(/never overwrites/);
  });
  it('a second import of the same rows adds nothing', () => {
    const rows = [raw(1, { id: 'a', label: 'billing', text: 'A' })];
    const first = planImport(rows, LABELS, new Map());
    const again = planImport(rows, LABELS, new Map(first.add.map((r) => [r.id, r.label])));
    expect(again).toEqual({ add: [], unchanged: 1, rejects: [] });
  });
});

describe('verdicts in snapshot rows', () => {
  it("counts accept answers from a label-issue round's annotations on the items it queued, changed when not the label shown", () => {
    const rounds = [
      {
        round: 'R1',
        labels: LABELS,
        flagged: [1, 1, 0],
        noiseRates: [0.1, 0.2, null],
        shown: new Map([
          ['a', 'billing'],
          ['b', 'shipping'],
        ]),
      },
    ];
    const ans = (accept: string[] | null, source: string, answer = 'accept') => ({ answer, accept, source });
    const rows = [
      { id: 'a', answers: [ans(['shipping'], 'gs://b/p/annotations/R1/ann.jsonl#L1'), ans(['billing'], 'annotations/R0/ann.jsonl#L3')] },
      { id: 'b', answers: [ans(['shipping'], 'annotations/R1/bob.jsonl#L2'), ans(null, 'annotations/R1/bob.jsonl#L9', 'ignore')] },
      { id: 'c', answers: [ans(['other'], 'annotations/R1/bob.jsonl#L4')] },
    ];
    expect(verdictsIn(rows, rounds)).toEqual([
      { round: 'R1', label: 'billing', changed: true },
      { round: 'R1', label: 'shipping', changed: false },
    ]);
  });
});
