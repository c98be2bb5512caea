/**
 * One chunk of prediction lines through one pass of a label-issue round, on
 * a pool thread. Pure: bytes in, a mergeable partial and rejects out.
 *
 * What a thread needs besides its bytes travels in the task: the labels of
 * the snapshot as a `LabelTable` (two typed arrays over shared memory, so
 * every task references rather than copies them), the thresholds after pass
 * 1 (k numbers) and the prune counts and label counts after pass 2 (k² + k
 * numbers). Every pass validates every line the same way, so each pass uses
 * the same items; the caller keeps the rejects of one pass.
 */

import { decodeLines } from '../chunk.js';
import { murmur3 } from '../hash.js';
import { normalizeRecord } from '../normalize.js';
import type { PredictionRecord, Reject } from '../types.js';
import { checkItem, classIndex } from './input.js';
import { addToJoint, newJointCounts } from './joint.js';
import { type CellEntry, PruneSelector } from './prune.js';
import { type ClassSums, addToClassSums, newClassSums } from './sums.js';

/** The snapshot's labels: sorted 64-bit id keys, and the class index of each. */
export interface LabelTable {
  keys: BigUint64Array;
  classOf: Int32Array;
}

/** 64-bit key of an item id in a `LabelTable`. */
export function labelKey(id: string): bigint {
  return (BigInt(murmur3(id, 0x6c1a6e15)) << 32n) | BigInt(murmur3(id, 0x1abe1155));
}

/**
 * Builds the table over shared memory. `entries` holds (id, class index)
 * pairs with distinct ids; two ids whose keys collide (about 1 in 10^19 per
 * pair) are both left out and returned, so neither borrows the other's label.
 */
export function buildLabelTable(entries: ReadonlyArray<readonly [string, number]>): { table: LabelTable; collisions: string[] } {
  const keyed = entries.map(([id, c]) => ({ id, c, key: labelKey(id) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const collided = new Set<number>();
  for (let i = 1; i < keyed.length; i++) if (keyed[i].key === keyed[i - 1].key) collided.add(i).add(i - 1);
  const kept = keyed.filter((_, i) => !collided.has(i));
  const keys = new BigUint64Array(new SharedArrayBuffer(Math.max(8, kept.length * 8)), 0, kept.length);
  const classOf = new Int32Array(new SharedArrayBuffer(Math.max(4, kept.length * 4)), 0, kept.length);
  kept.forEach((e, i) => {
    keys[i] = e.key;
    classOf[i] = e.c;
  });
  return { table: { keys, classOf }, collisions: [...collided].map((i) => keyed[i].id).sort() };
}

/** Class index of `id` in the table, or -1. */
export function lookupLabel(t: LabelTable, id: string): number {
  const key = labelKey(id);
  let lo = 0;
  let hi = t.keys.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = t.keys[mid];
    if (v === key) return t.classOf[mid];
    if (v < key) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** What the queue needs of a flagged item; the rest of the record stays in its object. */
export type IssuePayload = Pick<PredictionRecord, 'id' | 'text' | 'image' | 'audio' | 'width' | 'height' | 'model' | 'probs'>;

export type LabelPass =
  | { pass: 'sums' }
  | { pass: 'joint'; thresholds: number[] }
  | { pass: 'select'; prune: number[]; labelCounts: number[] };

export type LabelIssuesChunkInput = LabelPass & {
  kind: 'label-issues-chunk';
  chunk: Uint8Array;
  /** URI named in rejects and positions. */
  object: string;
  firstLine: number;
  labels: string[];
  table: LabelTable;
  probTolerance: number;
  format: 'native' | 'vertex' | 'auto';
  /** Snapshot version the labels come from, named in rejects. */
  snapshotVersion: number;
};

export interface LabelIssuesChunkOutput {
  read: number;
  used: number;
  rejects: Reject[];
  sums?: ClassSums;
  joint?: number[];
  entries?: CellEntry<IssuePayload>[];
}

/** Runs one pass over the chunk's lines. */
export function labelIssuesChunk(input: LabelIssuesChunkInput): LabelIssuesChunkOutput {
  const k = input.labels.length;
  const labelSet = new Set(input.labels);
  const index = classIndex(input.labels);
  const out: LabelIssuesChunkOutput = { read: 0, used: 0, rejects: [] };
  const sums = input.pass === 'sums' ? newClassSums(k) : null;
  const joint = input.pass === 'joint' ? newJointCounts(k) : null;
  const selector = input.pass === 'select' ? new PruneSelector<IssuePayload>(k, input.prune, input.labelCounts) : null;
  const lines = decodeLines(input.chunk);
  const reject = (line: number, field: string, reason: string, id?: string) => {
    out.rejects.push({ object: input.object, line, field, reason, ...(id === undefined ? {} : { id }) });
  };
  for (let n = 0; n < lines.length; n++) {
    const text = lines[n];
    const line = input.firstLine + n;
    if (text !== null && text.trim() === '') continue;
    out.read++;
    if (text === null) { reject(line, '(line)', 'not valid UTF-8'); continue; }
    let value: unknown;
    try { value = JSON.parse(text); } catch (e) { reject(line, '(line)', `not JSON: ${(e as Error).message}`); continue; }
    const norm = normalizeRecord(value, { task: 'textcat', labels: input.labels, labelSet, probTolerance: input.probTolerance, format: input.format });
    if (!norm.ok) { reject(line, norm.field, norm.reason, norm.id); continue; }
    const rec = norm.record;
    if (!isOutOfSample(value)) {
      reject(line, 'out_of_sample', 'label-issues needs out-of-sample probabilities (cross-validated, or from a model that did not train on the item): set "out_of_sample": true', rec.id);
      continue;
    }
    const label = lookupLabel(input.table, rec.id);
    if (label < 0) { reject(line, 'id', `no label for this id in snapshot v${input.snapshotVersion}`, rec.id); continue; }
    const item = checkItem(input.labels[label], rec.probs, { classes: input.labels, sumTolerance: input.probTolerance }, index);
    if (!item.ok) { reject(line, item.field, item.reason, rec.id); continue; }
    out.used++;
    if (sums) addToClassSums(sums, label, item.p[label]);
    else if (joint) addToJoint(joint, label, item.p, 0, k, (input as { thresholds: number[] }).thresholds);
    else selector?.offer(label, item.p, 0, { object: input.object, line }, payloadOf(rec));
  }
  if (sums) out.sums = sums;
  if (joint) out.joint = joint;
  if (selector) out.entries = selector.exportEntries();
  return out;
}

/** `"out_of_sample": true` on a native record, or on a Vertex AI line's instance or prediction. */
function isOutOfSample(value: unknown): boolean {
  const v = value as Record<string, unknown>;
  if (v.out_of_sample === true) return true;
  const inst = v.instance as Record<string, unknown> | undefined;
  const pred = v.prediction as Record<string, unknown> | undefined;
  return (typeof inst === 'object' && inst !== null && inst.out_of_sample === true) || (typeof pred === 'object' && pred !== null && pred.out_of_sample === true);
}

function payloadOf(rec: PredictionRecord): IssuePayload {
  const p: IssuePayload = { id: rec.id };
  for (const key of ['text', 'image', 'audio', 'width', 'height', 'model', 'probs'] as const) {
    if (rec[key] !== undefined) (p as Record<string, unknown>)[key] = rec[key];
  }
  return p;
}
