import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AMBIGUOUS,
  type IssuePayload,
  type LabelIssuesChunkInput,
  LabelTableBuilder,
  type LabelPass,
  NOT_FOUND,
  buildLabelTable,
  labelIssuesChunk,
  lookupLabel,
} from '../../scoring/label-issues/chunk.js';
import { calibrateJoint, mergeJointCounts, newJointCounts, pruneCounts } from '../../scoring/label-issues/joint.js';
import { PruneSelector, rankIssues } from '../../scoring/label-issues/prune.js';
import { confidentThresholds, mergeClassSums, newClassSums } from '../../scoring/label-issues/sums.js';

const f = JSON.parse(readFileSync(new URL('../fixtures/label-issues/blobs-4x3000.json', import.meta.url), 'utf8')) as {
  classes: number;
  labels: number[];
  predProbs: number[][];
  expected: { selfConfidence: { indices: number[] } };
};
const LABELS = ['billing', 'shipping', 'returns', 'other'];
const enc = new TextEncoder();

/** The fixture as prediction lines, split into chunks of `per` lines: how the pool would see it. */
function chunks(lines: string[], per: number): Array<{ bytes: Uint8Array; firstLine: number }> {
  const out = [];
  for (let s = 0; s < lines.length; s += per) out.push({ bytes: enc.encode(lines.slice(s, s + per).join('\n')), firstLine: s + 1 });
  return out;
}

function lineOf(i: number): string {
  const probs = Object.fromEntries(LABELS.map((l, j) => [l, f.predProbs[i][j]]));
  return JSON.stringify({ id: `t${i}`, text: `ticket ${i}`, probs, out_of_sample: true });
}

function run(lines: string[], table: ReturnType<typeof buildLabelTable>['table'], per: number) {
  const base = {
    kind: 'label-issues-chunk' as const,
    object: 'file:///p/part-0.jsonl',
    labels: LABELS,
    table,
    task: 'textcat' as const,
    probTolerance: 1e-3,
    format: 'auto' as const,
    snapshotVersion: 3,
  };
  const pass = (p: LabelPass) =>
    chunks(lines, per).map((c) => labelIssuesChunk({ ...base, ...p, chunk: c.bytes, firstLine: c.firstLine } as LabelIssuesChunkInput));
  const first = pass({ pass: 'sums' });
  const sums = first.reduce((s, o) => mergeClassSums(s, o.sums!), newClassSums(4));
  const joint = pass({ pass: 'joint', thresholds: confidentThresholds(sums) }).reduce((j, o) => mergeJointCounts(j, o.joint!), newJointCounts(4));
  const prune = pruneCounts(calibrateJoint(joint, sums.counts), 4);
  const main = new PruneSelector<IssuePayload>(4, prune, sums.counts);
  for (const o of pass({ pass: 'select', prune, labelCounts: sums.counts })) main.absorb(o.entries!);
  return { issues: rankIssues(main.flagged(), 'self-confidence'), rejects: first.flatMap((o) => o.rejects), read: first.reduce((n, o) => n + o.read, 0) };
}

describe('label-issue passes over prediction lines, chunk by chunk', () => {
  const { table } = buildLabelTable(f.labels.map((c, i) => [`t${i}`, c] as const));
  it('agree with cleanlab whatever the chunk size', () => {
    const lines = f.labels.map((_, i) => lineOf(i));
    for (const per of [3000, 257]) {
      const r = run(lines, table, per);
      expect(r.rejects).toEqual([]);
      expect(r.issues.map((x) => Number(x.payload.id.slice(1)))).toEqual(f.expected.selfConfidence.indices);
      expect(r.issues[0].at.object).toBe('file:///p/part-0.jsonl');
    }
  });
  it('rejects bad lines with line, field and reason, and leaves them out of every pass', () => {
    const bad = [
      JSON.stringify({ id: 't0', text: 'x', probs: { billing: 1, shipping: 0, returns: 0, other: 0 } }),
      JSON.stringify({ id: 'nobody', text: 'x', probs: { billing: 1, shipping: 0, returns: 0, other: 0 }, out_of_sample: true }),
      JSON.stringify({ id: 't1', text: 'x', probs: { billing: 0.5, shipping: 0.5, refunds: 0 }, out_of_sample: true }),
      JSON.stringify({ id: 't2', text: 'x', probs: { billing: 0.5, shipping: 0.2 }, out_of_sample: true }),
      '{"id": "t3", "probs": ',
    ];
    const lines = [...bad, '', ...f.labels.map((_, i) => lineOf(i)).slice(4)];
    const r = run(lines, table, 100);
    expect(r.read).toBe(bad.length + f.labels.length - 4);
    expect(r.rejects.map((x) => [x.line, x.field])).toEqual([
      [1, 'out_of_sample'],
      [2, 'id'],
      [3, 'probs.refunds'],
      [4, 'probs'],
      [5, '(line)'],
    ]);
    expect(r.rejects[1].reason).toMatch(/no label for this id in snapshot v3/);
    expect(r.issues.some((x) => ['t0', 't1', 't2', 't3'].includes(x.payload.id))).toBe(false);
  });
  it('the label table finds every id and nothing else', () => {
    expect(lookupLabel(table, 't42')).toBe(f.labels[42]);
    expect(lookupLabel(table, 't3000')).toBe(NOT_FOUND);
  });
  it("keys that collide with different labels answer AMBIGUOUS, never the other item's label; equal labels stay", () => {
    // The same id twice stands in for two ids whose keys collide.
    const b = new LabelTableBuilder();
    b.add('x', 1);
    b.add('x', 2);
    b.add('y', 3);
    b.add('y', 3);
    const { table: t, ambiguous } = b.finish();
    expect(ambiguous).toBe(2);
    expect([lookupLabel(t, 'x'), lookupLabel(t, 'y')]).toEqual([AMBIGUOUS, 3]);
    expect(t.hi.length).toBe(2);
    expect(() => b.add('z', 255)).toThrow(RangeError);
  });
  it('image-classification records (an image, no text) are read when the project task is image', () => {
    const line = (i: number) => {
      const probs = Object.fromEntries(LABELS.map((l, j) => [l, f.predProbs[i][j]]));
      return JSON.stringify({ id: `t${i}`, image: `gs://b/img-${i}.jpg`, probs, out_of_sample: true });
    };
    const input = {
      kind: 'label-issues-chunk' as const,
      pass: 'sums' as const,
      chunk: enc.encode([0, 1, 2].map(line).join('\n')),
      object: 'o',
      firstLine: 1,
      labels: LABELS,
      table,
      probTolerance: 1e-3,
      format: 'auto' as const,
      snapshotVersion: 3,
    };
    const asImage = labelIssuesChunk({ ...input, task: 'image' });
    expect(asImage.rejects).toEqual([]);
    expect(asImage.used).toBe(3);
    // The same lines under a text task are missing their text: each is a reject naming the field.
    expect(labelIssuesChunk({ ...input, task: 'textcat' }).rejects.map((r) => r.field)).toEqual(['text', 'text', 'text']);
  });
  it('an ambiguous id is rejected with a reason', () => {
    const b = new LabelTableBuilder();
    b.add('t5', 0);
    b.add('t5', 1);
    const out = labelIssuesChunk({
      kind: 'label-issues-chunk',
      pass: 'sums',
      chunk: enc.encode(lineOf(5)),
      object: 'o',
      firstLine: 1,
      labels: LABELS,
      table: b.finish().table,
      task: 'textcat' as const,
      probTolerance: 1e-3,
      format: 'auto',
      snapshotVersion: 3,
    });
    expect(out.rejects).toMatchObject([{ line: 1, field: 'id', id: 't5' }]);
    expect(out.rejects[0].reason).toMatch(/collision/);
  });
});
