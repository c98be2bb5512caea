/**
 * The one check of a parsed Prodigy export line against the project it is
 * meant for. Pure: `push-annotations` (refuse the file up front) and `merge`
 * (reject the line into the snapshot's rejects) call the same function, so a
 * line that passes one passes the other.
 *
 * What it guards: every label an answer carries is a configured label; spans
 * lie inside the text and agree with the tokens; boxes lie inside the image
 * when its size is known; the answer has the shape of the project's task and
 * view; and the item is known from a round or its content is in the line.
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { TaskType } from '../../scoring/types.js';
import type { Answer } from '../records.js';
import { parseExportLine, type ExportLineResult, type ParsedExportLine } from './exports.js';
import { defaultView } from './tasks.js';

export interface ExportRules {
  task: TaskType;
  /** The view the project's queue uses (configured or the task's default). */
  view: string;
  labels: ReadonlySet<string>;
  /** `queue.annotators`: reviewer names matched inside Prodigy's `<dataset>-<session>` ids. */
  annotators: readonly string[];
}

/** True when `round`'s items hold `id`; null when the caller cannot tell (no lookup). */
export type KnownItem = (round: string, id: string) => boolean;

export interface LineProblem {
  field: string;
  reason: string;
}

export function exportRules(project: Pick<ProjectConfig, 'task' | 'labels' | 'queue'>): ExportRules {
  return {
    task: project.task,
    view: project.queue.view ?? defaultView(project.task),
    labels: new Set(project.labels),
    annotators: project.queue.annotators ?? [],
  };
}

const TEXT_TASKS: ReadonlySet<TaskType> = new Set(['textcat', 'textcat-multilabel', 'ner']);
/** Prodigy views an answer for each task may come from; `review` answers carry the reviewed view. */
const VIEWS: Record<TaskType, ReadonlySet<string>> = {
  textcat: new Set(['choice', 'classification', 'text', 'blocks']),
  'textcat-multilabel': new Set(['choice', 'classification', 'text', 'blocks']),
  ner: new Set(['ner_manual', 'spans_manual', 'ner', 'blocks']),
  'image-boxes': new Set(['image_manual', 'blocks']),
  'image-segmentation': new Set(['image_manual', 'blocks']),
  image: new Set(['choice', 'classification', 'image', 'blocks']),
  audio: new Set(['audio_manual', 'audio', 'choice', 'classification', 'blocks']),
};

/** Largest image side accepted, in pixels: anything larger is a unit or typing error, not a photo. */
const MAX_IMAGE_SIDE_PX = 1_000_000;

function contentKey(task: TaskType): 'text' | 'image' | 'audio' {
  return TEXT_TASKS.has(task) ? 'text' : task === 'audio' ? 'audio' : 'image';
}

function labelProblem(field: string, label: string, rules: ExportRules): LineProblem | null {
  return rules.labels.has(label)
    ? null
    : { field, reason: `label ${JSON.stringify(label)} is not one of the project's labels (${[...rules.labels].join(', ')})` };
}

function shapeProblem(p: ParsedExportLine, rules: ExportRules): LineProblem | null {
  const t = p.task;
  const want = contentKey(rules.task);
  for (const k of ['text', 'image', 'audio'] as const) {
    if (k !== want && k !== 'text' && typeof t[k] === 'string')
      return { field: k, reason: `${k === 'image' ? 'an image' : 'an audio'} task does not fit this ${rules.task} project` };
  }
  const view = p.answer.view;
  if (view !== null && !VIEWS[rules.task].has(view)) {
    return { field: '_view_id', reason: `view ${JSON.stringify(view)} does not fit this ${rules.task} project (queue view ${rules.view})` };
  }
  const a = p.answer;
  if (a.boxes !== null && a.boxes.length > 0 && rules.task !== 'image-boxes' && rules.task !== 'image-segmentation')
    return { field: 'spans', reason: `image boxes do not fit this ${rules.task} project` };
  if (a.spans !== null && a.spans.length > 0 && rules.task !== 'ner') return { field: 'spans', reason: `text spans do not fit this ${rules.task} project` };
  if (a.audio_spans !== null && a.audio_spans.length > 0 && rules.task !== 'audio')
    return { field: 'audio_spans', reason: `audio regions do not fit this ${rules.task} project` };
  return null;
}

function contentProblem(p: ParsedExportLine, rules: ExportRules, known: KnownItem | null): LineProblem | null {
  const key = contentKey(rules.task);
  const v = p.task[key];
  if (typeof v === 'string' && v.length > 0) return null;
  const meta = (typeof p.task.meta === 'object' && p.task.meta !== null ? p.task.meta : {}) as Record<string, unknown>;
  const round = typeof meta.round === 'string' ? meta.round : null;
  if (p.id !== null && round !== null && known?.(round, p.id)) return null;
  const which =
    p.id === null ? 'the line has no meta.id' : round === null ? 'the line has no meta.round' : `item ${JSON.stringify(p.id)} is not known from round ${round}`;
  return { field: key, reason: `no ${key} and ${which}` };
}

function spanProblem(p: ParsedExportLine): LineProblem | null {
  const spans = p.answer.spans ?? [];
  const text = typeof p.task.text === 'string' ? p.task.text : null;
  const tokens = Array.isArray(p.task.tokens) ? (p.task.tokens as unknown[]) : null;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (!(s.start >= 0 && s.start < s.end)) return { field: `spans[${i}]`, reason: `start ${s.start} and end ${s.end} must satisfy 0 ≤ start < end` };
    if (text !== null && s.end > text.length) return { field: `spans[${i}].end`, reason: `end ${s.end} is past the text (length ${text.length})` };
    if (s.token_start === undefined && s.token_end === undefined) continue;
    if (s.token_start === undefined || s.token_end === undefined || s.token_start > s.token_end || s.token_start < 0) {
      return { field: `spans[${i}]`, reason: 'token_start and token_end must both be present with 0 ≤ token_start ≤ token_end' };
    }
    if (tokens === null) continue;
    const first = tokens[s.token_start] as Record<string, unknown> | undefined;
    const last = tokens[s.token_end] as Record<string, unknown> | undefined;
    if (!first || !last) return { field: `spans[${i}].token_end`, reason: `token ${s.token_end} is past the ${tokens.length} tokens` };
    if (first.start !== s.start || last.end !== s.end) {
      return {
        field: `spans[${i}]`,
        reason: `characters ${s.start}–${s.end} do not match tokens ${s.token_start}–${s.token_end} (${String(first.start)}–${String(last.end)})`,
      };
    }
  }
  return null;
}

function sizeOf(v: unknown, field: string): { value: number | null; problem: LineProblem | null } {
  if (v === undefined || v === null) return { value: null, problem: null };
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_IMAGE_SIDE_PX) {
    return { value: null, problem: { field, reason: `must be a positive number of pixels up to ${MAX_IMAGE_SIDE_PX}` } };
  }
  return { value: v, problem: null };
}

function boxProblem(p: ParsedExportLine): LineProblem | null {
  const w = sizeOf(p.task.width, 'width');
  const h = sizeOf(p.task.height, 'height');
  if (w.problem) return w.problem;
  if (h.problem) return h.problem;
  const boxes = p.answer.boxes ?? [];
  // Prodigy rounds pixel coordinates, so a point may sit a fraction past the edge.
  const inside = (x: number, y: number) => x >= -1 && y >= -1 && (w.value === null || x <= w.value + 1) && (h.value === null || y <= h.value + 1);
  for (let i = 0; i < boxes.length; i++) {
    const b = boxes[i];
    for (const k of ['x', 'y', 'width', 'height'] as const) {
      const v = b[k];
      if (v !== undefined && !Number.isFinite(v)) return { field: `spans[${i}].${k}`, reason: 'must be a finite number of pixels' };
    }
    if ((b.width !== undefined && b.width < 0) || (b.height !== undefined && b.height < 0))
      return { field: `spans[${i}]`, reason: 'width and height must not be negative' };
    const pts: number[][] = b.points ? [...b.points] : [];
    if (b.x !== undefined && b.y !== undefined) pts.push([b.x, b.y], [b.x + (b.width ?? 0), b.y + (b.height ?? 0)]);
    for (const [x, y] of pts) {
      if (!inside(x, y)) return { field: `spans[${i}].points`, reason: `point (${x}, ${y}) lies outside the ${w.value ?? '?'}×${h.value ?? '?'} image` };
    }
  }
  return null;
}

function audioProblem(a: Answer): LineProblem | null {
  const xs = a.audio_spans ?? [];
  for (let i = 0; i < xs.length; i++) {
    const s = xs[i];
    if (!(Number.isFinite(s.start) && Number.isFinite(s.end) && s.start >= 0 && s.start < s.end)) {
      return { field: `audio_spans[${i}]`, reason: `start ${s.start} and end ${s.end} must be finite seconds with 0 ≤ start < end` };
    }
  }
  return null;
}

function labelsProblem(a: Answer, rules: ExportRules): LineProblem | null {
  if (a.label !== null) {
    const pr = labelProblem('label', a.label, rules);
    if (pr) return pr;
  }
  const lists: Array<[string, Array<{ label: string }> | null]> = [
    ['spans', a.spans],
    ['spans', a.boxes],
    ['audio_spans', a.audio_spans],
  ];
  for (let i = 0; i < (a.accept ?? []).length; i++) {
    const pr = labelProblem(`accept[${i}]`, a.accept![i], rules);
    if (pr) return pr;
  }
  for (const [field, xs] of lists) {
    for (let i = 0; i < (xs ?? []).length; i++) {
      const pr = labelProblem(`${field}[${i}].label`, xs![i].label, rules);
      if (pr) return pr;
    }
  }
  return null;
}

/**
 * The first problem of a parsed line for this project, or null when it may be merged.
 * `known` answers whether a round's items hold an id (merge and push read `items.jsonl`).
 */
export function validateExport(p: ParsedExportLine, rules: ExportRules, known: KnownItem | null): LineProblem | null {
  return (
    shapeProblem(p, rules) ?? contentProblem(p, rules, known) ?? labelsProblem(p.answer, rules) ?? spanProblem(p) ?? boxProblem(p) ?? audioProblem(p.answer)
  );
}

/**
 * Classification tasks may show pre-drawn spans or boxes as context (entity
 * linking, an object to classify); they are not the reviewer's answer, so they
 * are dropped before the line is checked and merged. Answers from a span or
 * box view are refused by the view check, not dropped.
 */
const CLASSIFICATION: ReadonlySet<TaskType> = new Set(['textcat', 'textcat-multilabel', 'image']);

function withoutContext(p: ParsedExportLine, rules: ExportRules): ParsedExportLine {
  if (!CLASSIFICATION.has(rules.task) || (p.answer.spans === null && p.answer.boxes === null)) return p;
  return { ...p, answer: { ...p.answer, spans: null, boxes: null } };
}

export interface CheckContext {
  rules: ExportRules;
  /** Lookup of round items; null when the caller has none (then the content must be in the line). */
  known: KnownItem | null;
  /** The reviewer recorded for the whole file (`push-annotations --name`), if any. */
  owner: string | null;
}

/** Parse one line with the project's reviewer names and the file's owner. */
export function parseForProject(text: string, object: string, line: number, ctx: CheckContext): ExportLineResult {
  return parseExportLine(text, object, line, { knownAnnotators: ctx.rules.annotators, owner: ctx.owner });
}

/**
 * The round whose items must be looked up before `checkParsed` can decide
 * (the line lacks the content and names an item), else null.
 */
export function roundToLookUp(p: ParsedExportLine, rules: ExportRules): string | null {
  const v = p.task[contentKey(rules.task)];
  if ((typeof v === 'string' && v.length > 0) || p.id === null) return null;
  const meta = p.task.meta as Record<string, unknown> | undefined;
  return meta && typeof meta === 'object' && typeof meta.round === 'string' ? meta.round : null;
}

/** Check a parsed line; a failed parse passes through. */
export function checkParsed(r: ExportLineResult, object: string, line: number, ctx: CheckContext): ExportLineResult {
  if (!r.ok) return r;
  const p = withoutContext(r.value, ctx.rules);
  const problem = validateExport(p, ctx.rules, ctx.known);
  return problem ? { ok: false, bad: { object, line, ...problem } } : { ok: true, value: p };
}

/** Parse and check one line: what push-annotations and merge both call. */
export function checkExportLine(text: string, object: string, line: number, ctx: CheckContext): ExportLineResult {
  return checkParsed(parseForProject(text, object, line, ctx), object, line, ctx);
}
