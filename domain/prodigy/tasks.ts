/**
 * Builds Prodigy tasks from scored records, exactly in the shapes of
 * docs/prodigy-formats.md. Hashes come from (project, item id, question),
 * never from media URLs, so they are the same in every round.
 */
import { murmur3, signed32 } from '../../scoring/hash.js';
import { topLabel } from '../../scoring/normalize.js';
import type { PredictionRecord, ScoredEntry, TaskType } from '../../scoring/types.js';
import { tokenize, tokenRange } from './tokenize.js';

export type View = 'choice' | 'classification' | 'ner_manual' | 'spans_manual' | 'image_manual' | 'audio_manual';

export function defaultView(task: TaskType): View {
  switch (task) {
    case 'textcat':
      return 'choice';
    case 'textcat-multilabel':
      return 'choice';
    case 'image':
      return 'choice';
    case 'ner':
      return 'ner_manual';
    case 'image-boxes':
    case 'image-segmentation':
      return 'image_manual';
    case 'audio':
      return 'audio_manual';
  }
}

export function inputHash(project: string, id: string): number {
  return signed32(murmur3(`${project}\u0000${id}`, 0));
}

/** The question: view + label set (+ the asked label for binary tasks). */
export function taskHash(input: number, view: View, labels: string[], label?: string): number {
  return signed32(murmur3(`${view}\u0000${labels.join('\u0001')}\u0000${label ?? ''}`, input >>> 0));
}

export interface TaskContext {
  project: string;
  round: string;
  task: TaskType;
  view: View;
  labels: string[];
  strategy: string;
  /** textcat-multilabel: labels at or above this probability are pre-selected. */
  acceptThreshold: number;
  /** Rewrites gs:// media to a URL the reviewer's browser can load (signed URL); identity otherwise. */
  mediaUrl?: (uri: string) => string;
}

export interface QueueItem {
  entry: ScoredEntry;
  rank: number;
  audit: boolean;
  /** Inclusion probability for audit items. */
  p?: number;
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** A short line a domain expert can read: why the model was unsure. */
export function reason(rec: PredictionRecord, ctx: TaskContext, item: QueueItem): string {
  if (item.audit) return `random audit sample (p=${round6(item.p ?? 0)})`;
  if (rec.probs) {
    const sorted = ctx.labels.filter((l) => rec.probs![l] !== undefined).sort((a, b) => rec.probs![b] - rec.probs![a] || (a < b ? -1 : 1));
    if (ctx.task === 'textcat-multilabel') {
      const near = [...sorted].sort((a, b) => Math.abs(rec.probs![a] - 0.5) - Math.abs(rec.probs![b] - 0.5) || (a < b ? -1 : 1))[0];
      return `${near} ${rec.probs[near].toFixed(2)} is close to 0.5`;
    }
    if (sorted.length >= 2) return `${sorted[0]} ${rec.probs[sorted[0]].toFixed(2)} vs ${sorted[1]} ${rec.probs[sorted[1]].toFixed(2)}`;
    if (sorted.length === 1) return `${sorted[0]} ${rec.probs[sorted[0]].toFixed(2)}`;
  }
  const scoredSpans = (rec.spans ?? []).filter((s) => s.score !== undefined);
  if (scoredSpans.length > 0) {
    const weakest = [...scoredSpans].sort((a, b) => a.score! - b.score! || a.start - b.start)[0];
    const text = rec.text?.slice(weakest.start, weakest.end) ?? '';
    return `least confident span "${text.length > 40 ? `${text.slice(0, 37)}...` : text}" ${weakest.label} ${weakest.score!.toFixed(2)}`;
  }
  const scoredBoxes = (rec.boxes ?? []).filter((b) => b.score !== undefined);
  if (scoredBoxes.length > 0) {
    const weakest = [...scoredBoxes].sort((a, b) => a.score! - b.score!)[0];
    return `least confident box ${weakest.label} ${weakest.score!.toFixed(2)} of ${scoredBoxes.length}`;
  }
  return `score ${round6(item.entry.score)} by ${ctx.strategy}`;
}

function meta(ctx: TaskContext, item: QueueItem): Record<string, unknown> {
  const rec = item.entry.record;
  const top = topLabel(rec.probs, ctx.labels);
  const m: Record<string, unknown> = {
    id: rec.id,
    round: ctx.round,
    score: round6(item.entry.score),
    rank: item.rank,
    strategy: ctx.strategy,
    model: rec.model ?? null,
    reason: reason(rec, ctx, item),
    audit: item.audit,
  };
  if (item.audit) m.p = item.p ?? null;
  if (top.label !== null) {
    m.predicted = top.label;
    m.confidence = round6(top.p);
  }
  m.source = `${item.entry.source.object}#L${item.entry.source.line}`;
  return m;
}

/** One queue line. Key order is fixed so the bytes are deterministic. */
export function buildTask(ctx: TaskContext, item: QueueItem): Record<string, unknown> {
  const rec = item.entry.record;
  const ih = inputHash(ctx.project, rec.id);
  const media = (u: string) => (ctx.mediaUrl ? ctx.mediaUrl(u) : u);
  const t: Record<string, unknown> = {};
  if (rec.text !== undefined) t.text = rec.text;
  if (rec.image !== undefined) t.image = media(rec.image);
  if (rec.audio !== undefined) t.audio = media(rec.audio);
  if (rec.width !== undefined) t.width = rec.width;
  if (rec.height !== undefined) t.height = rec.height;
  const top = topLabel(rec.probs, ctx.labels);

  switch (ctx.view) {
    case 'choice': {
      t.options = ctx.labels.map((l) => ({ id: l, text: l }));
      if (ctx.task === 'textcat-multilabel') {
        t.accept = ctx.labels.filter((l) => (rec.probs?.[l] ?? 0) >= ctx.acceptThreshold);
        t.config = { choice_style: 'multiple' };
      } else {
        t.accept = top.label === null ? [] : [top.label];
      }
      break;
    }
    case 'classification':
      if (top.label !== null) t.label = top.label;
      break;
    case 'ner_manual':
    case 'spans_manual': {
      const spans = rec.spans ?? [];
      const tokens = rec.tokens ?? tokenize(rec.text ?? '', spans);
      t.tokens = tokens;
      t.spans = spans.flatMap((s) => {
        const r = tokenRange(tokens, s);
        // A predicted span that does not align with given tokens cannot be shown by Prodigy; it stays in the snapshot's prediction.
        return r === null ? [] : [{ start: s.start, end: s.end, label: s.label, token_start: r.token_start, token_end: r.token_end }];
      });
      break;
    }
    case 'image_manual':
      t.spans = (rec.boxes ?? []).map((b) => ({
        label: b.label,
        x: b.x,
        y: b.y,
        width: b.w,
        height: b.h,
        points: b.points ?? [
          [b.x, b.y],
          [b.x, b.y + b.h],
          [b.x + b.w, b.y + b.h],
          [b.x + b.w, b.y],
        ],
        type: b.points ? 'polygon' : 'rect',
      }));
      break;
    case 'audio_manual':
      t.audio_spans = (rec.audio_spans ?? []).map((s) => ({ start: s.start, end: s.end, label: s.label }));
      break;
  }
  t.meta = meta(ctx, item);
  t._input_hash = ih;
  t._task_hash = taskHash(ih, ctx.view, ctx.labels, ctx.view === 'classification' ? (top.label ?? undefined) : undefined);
  return t;
}
