/**
 * One chunk of prediction lines through one pass of a label-issue round, on
 * a pool thread. Pure: bytes in, a mergeable partial and rejects out.
 *
 * What a thread needs besides its bytes travels in the task: the labels of
 * the snapshot as a `LabelTable` (a typed array over shared memory, so
 * every task references rather than copies it), the thresholds after pass
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

/**
 * The snapshot's labels for the threads: two sorted Uint32Arrays over
 * shared memory (every task references them, none copies them), 8 bytes per
 * labelled item. Each entry holds 56 bits of a hash of the id with the class
 * index in the low 8 bits; the builder sorts them as packed 64-bit values and
 * lookups compare plain numbers (no BigInt per record). Hence at most 255 classes
 * (the 256th value marks an ambiguous key).
 *
 * Two ids whose 56-bit keys collide (about 7·10⁻⁴ that any pair does among
 * 10⁷ ids) keep their labels when the labels agree; when they differ, neither
 * has a label here, and `lookupLabel` says so (AMBIGUOUS), so the item is
 * rejected with a reason instead of borrowing another item's label.
 */
export interface LabelTable {
  /** High 32 bits of each key, sorted (with `lo`) ascending. */
  hi: Uint32Array;
  /** Next 24 bits of the key, then the class index in the low 8 bits. */
  lo: Uint32Array;
}

export const MAX_LABEL_ISSUE_CLASSES = 255;
/** `lookupLabel`: the id is not in the table. */
export const NOT_FOUND = -1;
/** `lookupLabel`: the id's key collides with another id of another label. */
export const AMBIGUOUS = -2;

const CLASS_MASK = 0xffn;
const AMBIGUOUS_CLASS = 0xff;
const SEED_HI = 0x6c1a6e15;
const SEED_LO = 0x1abe1155;

/** 56-bit key of an item id, shifted into place above 8 class bits (the builder's packed form). */
export function labelKey(id: string): bigint {
  return (BigInt(murmur3(id, SEED_HI)) << 32n) | (BigInt(murmur3(id, SEED_LO) >>> 8) << 8n);
}

/** Collects (id, class) pairs without holding the ids; `finish` sorts them into a table. */
export class LabelTableBuilder {
  private buf = new BigUint64Array(1024);
  private n = 0;

  add(id: string, classIndex: number): void {
    if (!(classIndex >= 0 && classIndex < MAX_LABEL_ISSUE_CLASSES)) throw new RangeError(`class index ${classIndex} outside 0…${MAX_LABEL_ISSUE_CLASSES - 1}`);
    if (this.n === this.buf.length) {
      const bigger = new BigUint64Array(this.buf.length * 2);
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.n++] = labelKey(id) | BigInt(classIndex);
  }

  /** The table; ids that collide with another label are marked ambiguous (see LabelTable). */
  finish(): { table: LabelTable; ambiguous: number } {
    const sorted = this.buf.subarray(0, this.n).sort();
    const keep: bigint[] = [];
    let ambiguous = 0;
    for (let i = 0; i < sorted.length; ) {
      const key = sorted[i] & ~CLASS_MASK;
      let j = i;
      while (j < sorted.length && (sorted[j] & ~CLASS_MASK) === key) j++;
      // Same key and same class: one entry serves them all.
      if ((sorted[i] & CLASS_MASK) === (sorted[j - 1] & CLASS_MASK)) keep.push(sorted[i]);
      else {
        keep.push(key | BigInt(AMBIGUOUS_CLASS));
        ambiguous += j - i;
      }
      i = j;
    }
    const shared = (n: number) => new Uint32Array(new SharedArrayBuffer(Math.max(4, n * 4)), 0, n);
    const hi = shared(keep.length);
    const lo = shared(keep.length);
    keep.forEach((v, i) => {
      hi[i] = Number(v >> 32n);
      lo[i] = Number(v & 0xffffffffn);
    });
    this.buf = new BigUint64Array(0);
    return { table: { hi, lo }, ambiguous };
  }
}

/** A table from (id, class) pairs. */
export function buildLabelTable(entries: Iterable<readonly [string, number]>): { table: LabelTable; ambiguous: number } {
  const b = new LabelTableBuilder();
  for (const [id, c] of entries) b.add(id, c);
  return b.finish();
}

/** Class index of `id`, NOT_FOUND, or AMBIGUOUS. Plain number arithmetic: this runs for every record of every pass. */
export function lookupLabel(t: LabelTable, id: string): number {
  const khi = murmur3(id, SEED_HI);
  const klo = murmur3(id, SEED_LO) >>> 8;
  let lo = 0;
  let hi = t.hi.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const h = t.hi[mid];
    const l = t.lo[mid] >>> 8;
    if (h === khi && l === klo) {
      const c = t.lo[mid] & 0xff;
      return c === AMBIGUOUS_CLASS ? AMBIGUOUS : c;
    }
    if (h < khi || (h === khi && l < klo)) lo = mid + 1;
    else hi = mid - 1;
  }
  return NOT_FOUND;
}

/** What the queue needs of a flagged item; the rest of the record stays in its object. */
export type IssuePayload = Pick<PredictionRecord, 'id' | 'text' | 'image' | 'audio' | 'width' | 'height' | 'model' | 'probs'>;

export type LabelPass =
  | { pass: 'sums' }
  | { pass: 'joint'; thresholds: number[] }
  | { pass: 'select'; prune: number[]; labelCounts: number[]; floors?: number[] };

export type LabelIssuesChunkInput = LabelPass & {
  kind: 'label-issues-chunk';
  chunk: Uint8Array;
  /** URI named in rejects and positions. */
  object: string;
  firstLine: number;
  labels: string[];
  /** The project's task: textcat reads `text`, image reads `image`. */
  task: 'textcat' | 'image';
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
  const selector = input.pass === 'select' ? new PruneSelector<IssuePayload>(k, input.prune, input.labelCounts, input.floors) : null;
  const lines = decodeLines(input.chunk);
  const reject = (line: number, field: string, reason: string, id?: string) => {
    out.rejects.push({ object: input.object, line, field, reason, ...(id === undefined ? {} : { id }) });
  };
  for (let n = 0; n < lines.length; n++) {
    const text = lines[n];
    const line = input.firstLine + n;
    if (text !== null && text.trim() === '') continue;
    out.read++;
    if (text === null) {
      reject(line, '(line)', 'not valid UTF-8');
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      reject(line, '(line)', `not JSON: ${(e as Error).message}`);
      continue;
    }
    const norm = normalizeRecord(value, { task: input.task, labels: input.labels, labelSet, probTolerance: input.probTolerance, format: input.format });
    if (!norm.ok) {
      reject(line, norm.field, norm.reason, norm.id);
      continue;
    }
    const rec = norm.record;
    if (!isOutOfSample(value)) {
      reject(
        line,
        'out_of_sample',
        'label-issues needs out-of-sample probabilities (cross-validated, or from a model that did not train on the item): set "out_of_sample": true',
        rec.id,
      );
      continue;
    }
    const label = lookupLabel(input.table, rec.id);
    if (label === AMBIGUOUS) {
      reject(line, 'id', `the label of this id cannot be told apart from another id's (a 56-bit key collision) in snapshot v${input.snapshotVersion}`, rec.id);
      continue;
    }
    if (label < 0) {
      reject(line, 'id', `no label for this id in snapshot v${input.snapshotVersion}`, rec.id);
      continue;
    }
    const item = checkItem(input.labels[label], rec.probs, { classes: input.labels, sumTolerance: input.probTolerance }, index);
    if (!item.ok) {
      reject(line, item.field, item.reason, rec.id);
      continue;
    }
    out.used++;
    if (sums) addToClassSums(sums, label, item.p[label]);
    else if (joint) addToJoint(joint, label, item.p, 0, k, (input as { thresholds: number[] }).thresholds);
    else selector?.offer(label, item.p, 0, { object: input.object, line }, () => payloadOf(rec));
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
  return (
    (typeof inst === 'object' && inst !== null && inst.out_of_sample === true) || (typeof pred === 'object' && pred !== null && pred.out_of_sample === true)
  );
}

function payloadOf(rec: PredictionRecord): IssuePayload {
  const p: IssuePayload = { id: rec.id };
  for (const key of ['text', 'image', 'audio', 'width', 'height', 'model', 'probs'] as const) {
    if (rec[key] !== undefined) (p as Record<string, unknown>)[key] = rec[key];
  }
  return p;
}
