/**
 * Reads Prodigy `db-out` lines. Unknown keys are kept and never fail a line;
 * a line that cannot be an answer is reported with object, line and field
 * and skipped whole, never merged half.
 */
import { mayNestDeeperThan, nestingViolation } from '../../scoring/nesting.js';
import type { Answer } from '../records.js';

export interface ParsedExportLine {
  /** Join key: `meta.id` when present, else null (join by input hash). */
  id: string | null;
  inputHash: number;
  taskHash: number | null;
  answer: Answer;
  /** The task as exported (text, tokens, meta …) for items not known from a round. */
  task: Record<string, unknown>;
}

export interface BadExportLine {
  object: string;
  line: number;
  field: string;
  reason: string;
}

export type ExportLineResult = { ok: true; value: ParsedExportLine } | { ok: false; bad: BadExportLine };

const ANSWERS = new Set(['accept', 'reject', 'ignore']);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Character and token offsets: what a JS string can index. */
function isOffset(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/**
 * `_timestamp` is Unix seconds (Prodigy writes `int(time.time())`). It becomes a
 * snapshot's `asOf` and the stats' `event_time`, so it must be a date those can
 * hold: from 2000-01-01 to 2100-01-01.
 */
export const TIMESTAMP_RANGE_S = { min: 946_684_800, max: 4_102_444_800 } as const;

export function timestampProblem(v: unknown): string | null {
  if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a finite number of Unix seconds, got ${JSON.stringify(v)}`;
  if (v >= TIMESTAMP_RANGE_S.min && v < TIMESTAMP_RANGE_S.max) return null;
  const ms = v >= TIMESTAMP_RANGE_S.min * 1000 && v < TIMESTAMP_RANGE_S.max * 1000 ? ' (it looks like milliseconds)' : '';
  return `${v} is not Unix seconds between 2000-01-01 and 2100-01-01${ms}`;
}

function int32(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 4294967295 ? v | 0 : null;
}

export interface ParseOptions {
  /** Reviewer names the project knows (`queue.annotators`): matched as the session part of `<dataset>-<session>`. */
  knownAnnotators?: readonly string[];
  /** The reviewer `push-annotations --name` recorded for the whole file: the annotator of lines from an unnamed session. */
  owner?: string | null;
}

/** Unnamed Prodigy sessions: `default`, or a start time such as `2019-03-11_15-15-44`. */
const UNNAMED_SESSION = /(^|-)(default|\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})$/;

/**
 * The reviewer behind Prodigy's `_annotator_id`/`_session_id`, which Prodigy
 * writes as `<dataset>-<session>`: the session name, so one reviewer is one
 * person across datasets and rounds. A known reviewer name wins (names may
 * hold "-"); otherwise the part after the last "-". Unnamed sessions belong
 * to the file's owner when one was recorded, else to nobody.
 */
export function annotatorName(raw: string | null, known: readonly string[], owner: string | null): string | null {
  if (raw === null || raw === '') return owner;
  let best: string | null = null;
  for (const k of known) if ((raw === k || raw.endsWith(`-${k}`)) && (best === null || k.length > best.length)) best = k;
  if (best !== null) return best;
  if (UNNAMED_SESSION.test(raw)) return owner;
  const cut = raw.lastIndexOf('-');
  return cut > 0 && cut < raw.length - 1 ? raw.slice(cut + 1) : raw;
}

/** Why one field of a line makes it no answer: the line is reported with this field and skipped. */
class Problem {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {}
}

/** The line as a JSON object no deeper than prediction lines may be. */
function parseLineObject(text: string): Record<string, unknown> | Problem {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return new Problem('(line)', `malformed JSON: ${(err as Error).message}`);
  }
  // The same bound as prediction lines: fields kept from the task (tokens, meta) are copied, written and read
  // back recursively by the snapshot's writers and its readers (Python's json stops near 1,000 levels).
  const deep = mayNestDeeperThan(text) ? nestingViolation(v) : null;
  if (deep !== null) return new Problem(deep.field ?? '(line)', deep.reason);
  if (!isObj(v)) return new Problem('(line)', 'expected a JSON object');
  return v;
}

function metaId(v: Record<string, unknown>): string | null | Problem {
  const meta = isObj(v.meta) ? v.meta : {};
  if (meta.id === undefined || meta.id === null) return null;
  if (typeof meta.id === 'string' && meta.id.length > 0) return meta.id;
  if (typeof meta.id === 'number' && Number.isSafeInteger(meta.id)) return String(meta.id);
  return new Problem('meta.id', 'must be a non-empty string or an integer');
}

function acceptField(v: Record<string, unknown>): string[] | null | Problem {
  if (v.accept === undefined || v.accept === null) return null;
  if (!Array.isArray(v.accept) || !v.accept.every((x) => typeof x === 'string' || typeof x === 'number'))
    return new Problem('accept', 'must be a list of option ids');
  return v.accept.map(String);
}

/** The first problem of span `i`: an image box (label, optional points) or a text span (offsets inside the text). */
function spanProblem(s: unknown, i: number, isImage: boolean, text: unknown): Problem | null {
  if (!isObj(s)) return new Problem(`spans[${i}]`, 'must be an object');
  if (isImage) {
    if (typeof s.label !== 'string') return new Problem(`spans[${i}].label`, 'must be a string');
    if (
      s.points !== undefined &&
      !(Array.isArray(s.points) && s.points.every((p) => Array.isArray(p) && p.length === 2 && p.every((c) => typeof c === 'number' && Number.isFinite(c))))
    ) {
      return new Problem(`spans[${i}].points`, 'must be a list of [x, y] pairs');
    }
    return null;
  }
  if (!isOffset(s.start) || !isOffset(s.end) || s.end < s.start) return new Problem(`spans[${i}]`, `start/end must be integers with 0 ≤ start ≤ end < 2^31`);
  if (typeof s.label !== 'string') return new Problem(`spans[${i}].label`, 'must be a string');
  if (typeof text === 'string' && (s.end as number) > text.length)
    return new Problem(`spans[${i}]`, `end ${String(s.end)} is past the text (length ${text.length})`);
  return null;
}

/** `spans` as image boxes or text spans (the other one null), after every span is checked. */
function spanFields(v: Record<string, unknown>, isImage: boolean): Pick<Answer, 'spans' | 'boxes'> | Problem {
  if (v.spans === undefined || v.spans === null) return { spans: null, boxes: null };
  if (!Array.isArray(v.spans)) return new Problem('spans', 'must be a list');
  for (let i = 0; i < v.spans.length; i++) {
    const problem = spanProblem(v.spans[i], i, isImage, v.text);
    if (problem !== null) return problem;
  }
  const list = v.spans as Array<Record<string, unknown>>;
  if (isImage) {
    const boxes = list.map((s) => {
      const b: NonNullable<Answer['boxes']>[number] = { label: s.label as string };
      if (Array.isArray(s.points)) b.points = s.points as number[][];
      for (const k of ['x', 'y', 'width', 'height'] as const) if (typeof s[k] === 'number') b[k] = s[k] as number;
      return b;
    });
    return { spans: null, boxes };
  }
  const spans = list.map((s) => {
    const out: NonNullable<Answer['spans']>[number] = { start: s.start as number, end: s.end as number, label: s.label as string };
    if (isOffset(s.token_start)) out.token_start = s.token_start;
    if (isOffset(s.token_end)) out.token_end = s.token_end;
    return out;
  });
  return { spans, boxes: null };
}

function audioSpansField(v: Record<string, unknown>): Answer['audio_spans'] | Problem {
  if (v.audio_spans === undefined || v.audio_spans === null) return null;
  if (
    !Array.isArray(v.audio_spans) ||
    !v.audio_spans.every((s) => isObj(s) && typeof s.start === 'number' && typeof s.end === 'number' && typeof s.label === 'string')
  ) {
    return new Problem('audio_spans', 'must be a list of {start, end, label} in seconds');
  }
  return (v.audio_spans as Array<{ start: number; end: number; label: string }>).map((s) => ({ start: s.start, end: s.end, label: s.label }));
}

function timestampField(v: Record<string, unknown>): number | null | Problem {
  if (v._timestamp === undefined || v._timestamp === null) return null;
  const why = timestampProblem(v._timestamp);
  return why === null ? (v._timestamp as number) : new Problem('_timestamp', why);
}

/** One db-out line as an answer, or the first field (in a fixed order) that makes it none. */
export function parseExportLine(text: string, object: string, line: number, opts: ParseOptions = {}): ExportLineResult {
  const bad = (p: Problem): ExportLineResult => ({ ok: false, bad: { object, line, field: p.field, reason: p.reason } });
  const v = parseLineObject(text);
  if (v instanceof Problem) return bad(v);
  if (typeof v.answer !== 'string' || !ANSWERS.has(v.answer))
    return bad(new Problem('answer', `answer must be accept, reject or ignore, got ${JSON.stringify(v.answer)}`));
  const inputHash = int32(v._input_hash);
  if (inputHash === null) return bad(new Problem('_input_hash', 'missing or not a 32-bit integer'));
  const id = metaId(v);
  if (id instanceof Problem) return bad(id);
  if (v.label !== undefined && v.label !== null && typeof v.label !== 'string') return bad(new Problem('label', 'must be a string'));
  const accept = acceptField(v);
  if (accept instanceof Problem) return bad(accept);
  // Prodigy's `review` recipe writes `_view_id: "review"` and the reviewed task's view as `view_id`.
  const view = v._view_id === 'review' && typeof v.view_id === 'string' ? v.view_id : typeof v._view_id === 'string' ? v._view_id : null;
  const isImage = typeof v.image === 'string' || view === 'image_manual';
  const spans = spanFields(v, isImage);
  if (spans instanceof Problem) return bad(spans);
  const audioSpans = audioSpansField(v);
  if (audioSpans instanceof Problem) return bad(audioSpans);
  const timestamp = timestampField(v);
  if (timestamp instanceof Problem) return bad(timestamp);
  const session = typeof v._session_id === 'string' ? v._session_id : null;
  const raw = typeof v._annotator_id === 'string' ? v._annotator_id : session;
  const answer: Answer = {
    answer: v.answer as Answer['answer'],
    annotator: annotatorName(raw, opts.knownAnnotators ?? [], opts.owner ?? null),
    annotator_raw: raw,
    session,
    timestamp,
    label: typeof v.label === 'string' ? v.label : null,
    accept,
    spans: spans.spans,
    boxes: spans.boxes,
    audio_spans: audioSpans,
    view,
    source: `${object}#L${line}`,
    adjudicated: Array.isArray(v.versions),
  };
  return { ok: true, value: { id, inputHash, taskHash: int32(v._task_hash), answer, task: v } };
}

/** Identity of one answer, so the same line re-exported in a later db-out file is merged once. */
export function answerKey(itemId: string, a: Answer): string {
  // The identity Prodigy wrote, not the name derived from it, so keys stay stable if the derivation changes;
  // without one, the file's owner, so two reviewers' identical answers from unnamed sessions stay two.
  const who = a.annotator_raw !== undefined ? (a.annotator_raw ?? a.annotator) : a.annotator;
  return JSON.stringify([itemId, who, a.session, a.timestamp, a.answer, a.label, a.accept, a.spans, a.boxes, a.audio_spans]);
}
