/**
 * Reads Prodigy `db-out` lines. Unknown keys are kept and never fail a line;
 * a line that cannot be an answer is reported with object, line and field
 * and skipped whole, never merged half.
 */
import type { Answer } from './model.js';

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

function int32(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 4294967295 ? v | 0 : null;
}

export function parseExportLine(text: string, object: string, line: number): ExportLineResult {
  const bad = (field: string, reason: string): ExportLineResult => ({ ok: false, bad: { object, line, field, reason } });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return bad('(line)', `malformed JSON: ${(err as Error).message}`);
  }
  if (!isObj(v)) return bad('(line)', 'expected a JSON object');
  if (typeof v.answer !== 'string' || !ANSWERS.has(v.answer)) return bad('answer', `answer must be accept, reject or ignore, got ${JSON.stringify(v.answer)}`);
  const inputHash = int32(v._input_hash);
  if (inputHash === null) return bad('_input_hash', 'missing or not a 32-bit integer');
  const meta = isObj(v.meta) ? v.meta : {};
  let id: string | null = null;
  if (meta.id !== undefined && meta.id !== null) {
    if (typeof meta.id === 'string' && meta.id.length > 0) id = meta.id;
    else if (typeof meta.id === 'number' && Number.isSafeInteger(meta.id)) id = String(meta.id);
    else return bad('meta.id', 'must be a non-empty string or an integer');
  }
  if (v.label !== undefined && v.label !== null && typeof v.label !== 'string') return bad('label', 'must be a string');
  let accept: string[] | null = null;
  if (v.accept !== undefined && v.accept !== null) {
    if (!Array.isArray(v.accept) || !v.accept.every((x) => typeof x === 'string' || typeof x === 'number')) return bad('accept', 'must be a list of option ids');
    accept = v.accept.map(String);
  }
  // Prodigy's `review` recipe writes `_view_id: "review"` and the reviewed task's view as `view_id`.
  const view = v._view_id === 'review' && typeof v.view_id === 'string' ? v.view_id : typeof v._view_id === 'string' ? v._view_id : null;
  const isImage = typeof v.image === 'string' || view === 'image_manual';
  let spans: Answer['spans'] = null;
  let boxes: Answer['boxes'] = null;
  if (v.spans !== undefined && v.spans !== null) {
    if (!Array.isArray(v.spans)) return bad('spans', 'must be a list');
    for (let i = 0; i < v.spans.length; i++) {
      const s = v.spans[i];
      if (!isObj(s)) return bad(`spans[${i}]`, 'must be an object');
      if (isImage) {
        if (typeof s.label !== 'string') return bad(`spans[${i}].label`, 'must be a string');
        if (s.points !== undefined && !(Array.isArray(s.points) && s.points.every((p) => Array.isArray(p) && p.length === 2 && p.every((c) => typeof c === 'number' && Number.isFinite(c))))) {
          return bad(`spans[${i}].points`, 'must be a list of [x, y] pairs');
        }
      } else {
        if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || (s.end as number) < (s.start as number) || (s.start as number) < 0) return bad(`spans[${i}]`, 'start/end must be integers with 0 ≤ start ≤ end');
        if (typeof s.label !== 'string') return bad(`spans[${i}].label`, 'must be a string');
        if (typeof v.text === 'string' && (s.end as number) > v.text.length) return bad(`spans[${i}]`, `end ${String(s.end)} is past the text (length ${v.text.length})`);
      }
    }
    if (isImage) {
      boxes = (v.spans as Array<Record<string, unknown>>).map((s) => {
        const b: NonNullable<Answer['boxes']>[number] = { label: s.label as string };
        if (Array.isArray(s.points)) b.points = s.points as number[][];
        for (const k of ['x', 'y', 'width', 'height'] as const) if (typeof s[k] === 'number') b[k] = s[k] as number;
        return b;
      });
    } else {
      spans = (v.spans as Array<Record<string, unknown>>).map((s) => {
        const out: NonNullable<Answer['spans']>[number] = { start: s.start as number, end: s.end as number, label: s.label as string };
        if (Number.isInteger(s.token_start)) out.token_start = s.token_start as number;
        if (Number.isInteger(s.token_end)) out.token_end = s.token_end as number;
        return out;
      });
    }
  }
  let audioSpans: Answer['audio_spans'] = null;
  if (v.audio_spans !== undefined && v.audio_spans !== null) {
    if (!Array.isArray(v.audio_spans) || !v.audio_spans.every((s) => isObj(s) && typeof s.start === 'number' && typeof s.end === 'number' && typeof s.label === 'string')) {
      return bad('audio_spans', 'must be a list of {start, end, label} in seconds');
    }
    audioSpans = (v.audio_spans as Array<{ start: number; end: number; label: string }>).map((s) => ({ start: s.start, end: s.end, label: s.label }));
  }
  let timestamp: number | null = null;
  if (v._timestamp !== undefined && v._timestamp !== null) {
    if (typeof v._timestamp !== 'number' || !Number.isFinite(v._timestamp)) return bad('_timestamp', 'must be Unix seconds');
    timestamp = v._timestamp;
  }
  const session = typeof v._session_id === 'string' ? v._session_id : null;
  const annotator = typeof v._annotator_id === 'string' ? v._annotator_id : session;
  const answer: Answer = {
    answer: v.answer as Answer['answer'],
    annotator,
    session,
    timestamp,
    label: typeof v.label === 'string' ? v.label : null,
    accept,
    spans,
    boxes,
    audio_spans: audioSpans,
    view,
    source: `${object}#L${line}`,
    adjudicated: Array.isArray(v.versions),
  };
  return { ok: true, value: { id, inputHash, taskHash: int32(v._task_hash), answer, task: v } };
}

/** Identity of one answer, so the same line re-exported in a later db-out file is merged once. */
export function answerKey(itemId: string, a: Answer): string {
  return JSON.stringify([itemId, a.annotator, a.session, a.timestamp, a.answer, a.label, a.accept, a.spans, a.boxes, a.audio_spans]);
}
