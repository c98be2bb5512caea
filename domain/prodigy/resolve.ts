/**
 * Resolves several answers for one item into one label by policy. Pure.
 * `ignore` is recorded but is no label; a binary `reject` is a negative for
 * its label; adjudicated answers (Prodigy `review` output) take precedence.
 */
import type { Answer, SnapshotRow } from '../records.js';

export type ConflictPolicy = 'latest' | 'majority' | 'unanimous';

/** The resolved fields of a snapshot row. */
export type Resolution = Pick<SnapshotRow, 'status' | 'label' | 'labels' | 'negatives' | 'spans' | 'boxes' | 'audio_spans'>;

function isBinary(a: Answer): boolean {
  return a.label !== null && a.accept === null && a.spans === null && a.boxes === null && a.audio_spans === null;
}

/** Comparable value of a non-binary answer. */
function answerValue(a: Answer): string {
  if (a.answer === 'reject') return 'reject';
  return JSON.stringify([
    a.accept ? [...a.accept].sort() : null,
    a.spans ? a.spans.map((s) => [s.start, s.end, s.label]).sort() : null,
    a.boxes ? a.boxes.map((b) => [b.label, b.x ?? null, b.y ?? null, b.width ?? null, b.height ?? null, b.points ?? null]) : null,
    a.audio_spans ? a.audio_spans.map((s) => [s.start, s.end, s.label]) : null,
  ]);
}

/** Time order; answers without a timestamp keep their consumption order, before timed ones. */
function chronological<T extends { a: Answer; i: number }>(xs: T[]): T[] {
  return [...xs].sort((x, y) => (x.a.timestamp ?? -Infinity) - (y.a.timestamp ?? -Infinity) || x.i - y.i);
}

/**
 * The winning value by policy, or null for a conflict: any disagreement under
 * `unanimous`, a tie for the most answers under `majority` (a 1–1 split has
 * no majority, so it is a conflict, not a win for whoever answered last).
 */
function decide<T extends { a: Answer; i: number; v: string }>(xs: T[], policy: ConflictPolicy): T | null {
  const ordered = chronological(xs);
  const last = ordered[ordered.length - 1];
  if (policy === 'latest') return last;
  if (policy === 'unanimous') return ordered.every((x) => x.v === last.v) ? last : null;
  const counts = new Map<string, number>();
  for (const x of ordered) counts.set(x.v, (counts.get(x.v) ?? 0) + 1);
  const best = Math.max(...counts.values());
  if ([...counts.values()].filter((c) => c === best).length > 1) return null;
  // Of the majority value's answers, the most recent one carries the fields (e.g. the choice order).
  for (let i = ordered.length - 1; i >= 0; i--) if (counts.get(ordered[i].v) === best) return ordered[i];
  return last;
}

export function resolveAnswers(answers: Answer[], policy: ConflictPolicy, singleLabel: boolean): Resolution {
  const out: Resolution = { status: 'ignored', label: null, labels: [], negatives: [], spans: null, boxes: null, audio_spans: null };
  const indexed = answers.map((a, i) => ({ a, i })).filter((x) => x.a.answer !== 'ignore');
  if (indexed.length === 0) return out;
  const adjudicated = indexed.filter((x) => x.a.adjudicated);
  const pool = adjudicated.length > 0 ? adjudicated : indexed;
  const effective = adjudicated.length > 0 ? 'latest' : policy;

  const binary = pool.filter((x) => isBinary(x.a));
  const rich = pool.filter((x) => !isBinary(x.a));
  let conflicts = 0;
  const positives = new Set<string>();
  const negatives = new Set<string>();
  const byLabel = new Map<string, Array<{ a: Answer; i: number; v: string }>>();
  for (const x of binary) {
    const list = byLabel.get(x.a.label!) ?? [];
    list.push({ ...x, v: x.a.answer });
    byLabel.set(x.a.label!, list);
  }
  for (const [label, xs] of [...byLabel.entries()].sort((p, q) => (p[0] < q[0] ? -1 : 1))) {
    const w = decide(xs, effective);
    if (w === null) conflicts++;
    else if (w.v === 'accept') positives.add(label);
    else negatives.add(label);
  }

  if (rich.length > 0) {
    const w = decide(
      rich.map((x) => ({ ...x, v: answerValue(x.a) })),
      effective,
    );
    if (w === null) {
      out.status = 'conflict';
    } else if (w.v === 'reject') {
      out.status = 'rejected';
    } else {
      out.status = 'labelled';
      for (const l of w.a.accept ?? []) positives.add(l);
      out.spans = w.a.spans;
      out.boxes = w.a.boxes;
      out.audio_spans = w.a.audio_spans;
    }
  } else if (positives.size > 0) {
    out.status = 'labelled';
  } else if (negatives.size > 0) {
    out.status = 'negative-only';
  } else {
    out.status = conflicts > 0 ? 'conflict' : 'ignored';
  }
  out.labels = [...positives].sort();
  out.negatives = [...negatives].filter((l) => !positives.has(l)).sort();
  out.label = out.status === 'labelled' && out.labels.length > 0 && (singleLabel || out.labels.length === 1) ? out.labels[0] : null;
  // Choice answers keep the reviewer's order (first selected = the label) for single-label tasks.
  if (out.status === 'labelled' && rich.length > 0 && singleLabel) {
    const w = decide(
      rich.map((x) => ({ ...x, v: answerValue(x.a) })),
      effective,
    );
    const first = w?.a.accept?.[0];
    if (first !== undefined) out.label = first;
  }
  return out;
}
