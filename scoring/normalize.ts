/**
 * Turns one parsed JSON value (a native prediction record or a Vertex AI batch
 * prediction line) into a validated PredictionRecord, or says precisely which
 * field is wrong. Pure: the worker threads call it on every line.
 */
import { murmur3 } from './hash.js';
import type { Box, PredictionRecord, Span, TaskType, Token } from './types.js';

export type NormalizeResult = { ok: true; record: PredictionRecord } | { ok: false; field: string; reason: string; id?: string };

export interface NormalizeOptions {
  task: TaskType;
  labels: string[];
  /** Set of `labels` for O(1) membership checks; built once per chunk. */
  labelSet: Set<string>;
  probTolerance: number;
  format: 'native' | 'vertex' | 'auto';
}

const MAX_ID_LENGTH = 1024;

function fail(field: string, reason: string, id?: string): NormalizeResult {
  return id === undefined ? { ok: false, field, reason } : { ok: false, field, reason, id };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isProb(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
}

function describeBadProb(v: unknown): string {
  if (typeof v !== 'number') return `is ${v === null ? 'null' : typeof v}, not a number`;
  if (Number.isNaN(v)) return 'is NaN';
  if (!Number.isFinite(v)) return 'is infinite';
  if (v < 0) return `is negative (${v})`;
  return `is above 1 (${v})`;
}

function readId(raw: unknown): string | undefined {
  if (typeof raw === 'string' && raw.length > 0 && raw.length <= MAX_ID_LENGTH) return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return String(raw);
  return undefined;
}

/** Canonical JSON (sorted keys) so a hash of an instance does not depend on key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObj(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function normalizeRecord(value: unknown, opts: NormalizeOptions): NormalizeResult {
  if (!isObj(value)) return fail('(record)', `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  const vertex = opts.format === 'vertex' || (opts.format === 'auto' && 'instance' in value && 'prediction' in value);
  return vertex ? normalizeVertex(value, opts) : normalizeNative(value, opts);
}

function normalizeNative(v: Record<string, unknown>, opts: NormalizeOptions): NormalizeResult {
  if (v.id === undefined || v.id === null) return fail('id', 'missing id');
  const id = readId(v.id);
  if (id === undefined) return fail('id', `id must be a non-empty string (≤ ${MAX_ID_LENGTH} chars) or an integer`);
  const rec: PredictionRecord = { id };

  for (const key of ['text', 'image', 'audio'] as const) {
    if (v[key] === undefined || v[key] === null) continue;
    if (typeof v[key] !== 'string') return fail(key, `${key} must be a string`, id);
    rec[key] = v[key] as string;
  }
  if (v.model !== undefined && v.model !== null) {
    if (typeof v.model !== 'string' && typeof v.model !== 'number') return fail('model', 'model must be a string', id);
    rec.model = String(v.model);
  }
  if (v.meta !== undefined && v.meta !== null) {
    if (!isObj(v.meta)) return fail('meta', 'meta must be an object', id);
    rec.meta = v.meta;
  }

  if (v.probs !== undefined || v.scores !== undefined) {
    const r = readProbs(v, opts, id);
    if (!r.ok) return r;
    rec.probs = r.probs;
  }
  if (v.spans !== undefined) {
    const r = readSpans(v.spans, opts, rec.text, id, 'spans');
    if (!r.ok) return r;
    rec.spans = r.spans;
  }
  if (v.tokens !== undefined) {
    const r = readTokens(v.tokens, rec.text, id);
    if (!r.ok) return r;
    rec.tokens = r.tokens;
  }
  for (const key of ['token_probs', 'committee', 'samples'] as const) {
    if (v[key] === undefined) continue;
    const r = readMatrix(v[key], opts.labels.length, key, id);
    if (!r.ok) return r;
    rec[key] = r.rows;
  }
  if (rec.token_probs && rec.tokens && rec.token_probs.length !== rec.tokens.length) {
    return fail('token_probs', `has ${rec.token_probs.length} rows for ${rec.tokens.length} tokens`, id);
  }
  if (v.boxes !== undefined) {
    const r = readBoxes(v.boxes, opts, id);
    if (!r.ok) return r;
    rec.boxes = r.boxes;
  }
  for (const key of ['width', 'height'] as const) {
    if (v[key] === undefined || v[key] === null) continue;
    if (typeof v[key] !== 'number' || !Number.isFinite(v[key]) || (v[key] as number) <= 0) return fail(key, `${key} must be a positive number`, id);
    rec[key] = v[key] as number;
  }
  if (v.audio_spans !== undefined) {
    const r = readSpans(v.audio_spans, opts, undefined, id, 'audio_spans');
    if (!r.ok) return r;
    rec.audio_spans = r.spans;
  }
  if (v.embedding !== undefined) {
    if (!Array.isArray(v.embedding) || v.embedding.length === 0 || !v.embedding.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return fail('embedding', 'embedding must be a non-empty array of finite numbers', id);
    }
    rec.embedding = v.embedding as number[];
  }
  return checkTaskInput(rec, opts);
}

/** Every task needs its media and something to score or pre-annotate. */
function checkTaskInput(rec: PredictionRecord, opts: NormalizeOptions): NormalizeResult {
  const { task } = opts;
  if ((task === 'textcat' || task === 'textcat-multilabel' || task === 'ner') && rec.text === undefined) return fail('text', `task ${task} needs text`, rec.id);
  if ((task === 'image' || task === 'image-boxes') && rec.image === undefined) return fail('image', `task ${task} needs image`, rec.id);
  if (task === 'audio' && rec.audio === undefined) return fail('audio', 'task audio needs audio', rec.id);
  return { ok: true, record: rec };
}

type ProbsResult = { ok: true; probs: Record<string, number> } | { ok: false; field: string; reason: string; id?: string };

function readProbs(v: Record<string, unknown>, opts: NormalizeOptions, id: string): ProbsResult {
  const probs: Record<string, number> = {};
  if (v.probs !== undefined) {
    if (!isObj(v.probs)) return { ok: false, field: 'probs', reason: 'probs must be an object {label: probability}', id };
    for (const key of Object.keys(v.probs)) {
      if (!opts.labelSet.has(key)) return { ok: false, field: `probs.${key}`, reason: `unknown label "${key}"`, id };
      const p = v.probs[key];
      if (!isProb(p)) return { ok: false, field: `probs.${key}`, reason: `probability ${describeBadProb(p)}`, id };
      probs[key] = p;
    }
  } else {
    const scores = v.scores;
    if (!Array.isArray(scores)) return { ok: false, field: 'scores', reason: 'scores must be an array', id };
    if (scores.length !== opts.labels.length)
      return { ok: false, field: 'scores', reason: `scores has ${scores.length} values for ${opts.labels.length} labels`, id };
    for (let i = 0; i < scores.length; i++) {
      if (!isProb(scores[i])) return { ok: false, field: `scores[${i}]`, reason: `probability ${describeBadProb(scores[i])}`, id };
      probs[opts.labels[i]] = scores[i];
    }
  }
  const n = Object.keys(probs).length;
  if (n === 0) return { ok: false, field: 'probs', reason: 'no probabilities', id };
  if (opts.task !== 'textcat-multilabel') {
    let sum = 0;
    for (const k in probs) sum += probs[k];
    if (Math.abs(sum - 1) > opts.probTolerance)
      return { ok: false, field: 'probs', reason: `probabilities sum to ${sum.toPrecision(6)}, not 1 (tolerance ${opts.probTolerance})`, id };
  }
  return { ok: true, probs };
}

type SpansResult = { ok: true; spans: Span[] } | { ok: false; field: string; reason: string; id?: string };

function readSpans(raw: unknown, opts: NormalizeOptions, text: string | undefined, id: string, field: string): SpansResult {
  if (!Array.isArray(raw)) return { ok: false, field, reason: `${field} must be an array`, id };
  const spans: Span[] = [];
  const isAudio = field === 'audio_spans';
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i];
    const f = `${field}[${i}]`;
    if (!isObj(s)) return { ok: false, field: f, reason: 'span must be an object', id };
    const { start, end, label, score } = s;
    const okNum = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && (isAudio || Number.isInteger(x));
    if (!okNum(start) || !okNum(end)) return { ok: false, field: f, reason: `start/end must be ${isAudio ? 'finite numbers' : 'integers'}`, id };
    if ((start as number) < 0 || (end as number) <= (start as number))
      return { ok: false, field: f, reason: `invalid range ${String(start)}..${String(end)}`, id };
    if (text !== undefined && (end as number) > text.length)
      return { ok: false, field: f, reason: `span ${String(start)}..${String(end)} is outside the text (length ${text.length})`, id };
    if (typeof label !== 'string' || !opts.labelSet.has(label)) return { ok: false, field: `${f}.label`, reason: `unknown label ${JSON.stringify(label)}`, id };
    const span: Span = { start: start as number, end: end as number, label };
    if (score !== undefined) {
      if (!isProb(score)) return { ok: false, field: `${f}.score`, reason: `score ${describeBadProb(score)}`, id };
      span.score = score;
    }
    spans.push(span);
  }
  return { ok: true, spans };
}

type TokensResult = { ok: true; tokens: Token[] } | { ok: false; field: string; reason: string; id?: string };

function readTokens(raw: unknown, text: string | undefined, id: string): TokensResult {
  if (!Array.isArray(raw)) return { ok: false, field: 'tokens', reason: 'tokens must be an array', id };
  const tokens: Token[] = [];
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i];
    if (!isObj(t) || typeof t.text !== 'string' || !Number.isInteger(t.start) || !Number.isInteger(t.end)) {
      return { ok: false, field: `tokens[${i}]`, reason: 'token needs text, start and end', id };
    }
    if (text !== undefined && ((t.end as number) > text.length || (t.start as number) < 0))
      return { ok: false, field: `tokens[${i}]`, reason: 'token is outside the text', id };
    tokens.push({ text: t.text, start: t.start as number, end: t.end as number, id: i, ws: t.ws === undefined ? true : Boolean(t.ws) });
  }
  return { ok: true, tokens };
}

type MatrixResult = { ok: true; rows: number[][] } | { ok: false; field: string; reason: string; id?: string };

function readMatrix(raw: unknown, width: number, field: string, id: string): MatrixResult {
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, field, reason: `${field} must be a non-empty array of probability vectors`, id };
  for (let i = 0; i < raw.length; i++) {
    const row = raw[i];
    if (!Array.isArray(row) || row.length !== width)
      return { ok: false, field: `${field}[${i}]`, reason: `expected ${width} probabilities (one per label)`, id };
    for (let j = 0; j < row.length; j++) {
      if (!isProb(row[j])) return { ok: false, field: `${field}[${i}][${j}]`, reason: `probability ${describeBadProb(row[j])}`, id };
    }
  }
  return { ok: true, rows: raw as number[][] };
}

type BoxesResult = { ok: true; boxes: Box[] } | { ok: false; field: string; reason: string; id?: string };

function readBoxes(raw: unknown, opts: NormalizeOptions, id: string): BoxesResult {
  if (!Array.isArray(raw)) return { ok: false, field: 'boxes', reason: 'boxes must be an array', id };
  const boxes: Box[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    const f = `boxes[${i}]`;
    if (!isObj(b)) return { ok: false, field: f, reason: 'box must be an object', id };
    for (const k of ['x', 'y', 'w', 'h'] as const) {
      if (typeof b[k] !== 'number' || !Number.isFinite(b[k]) || (b[k] as number) < 0)
        return { ok: false, field: `${f}.${k}`, reason: `${k} must be a non-negative number`, id };
    }
    if (typeof b.label !== 'string' || !opts.labelSet.has(b.label))
      return { ok: false, field: `${f}.label`, reason: `unknown label ${JSON.stringify(b.label)}`, id };
    const box: Box = { x: b.x as number, y: b.y as number, w: b.w as number, h: b.h as number, label: b.label };
    if (b.score !== undefined) {
      if (!isProb(b.score)) return { ok: false, field: `${f}.score`, reason: `score ${describeBadProb(b.score)}`, id };
      box.score = b.score;
    }
    if (Array.isArray(b.points)) box.points = b.points as number[][];
    boxes.push(box);
  }
  return { ok: true, boxes };
}

/** `meta` key set on a record whose boxes are still fractions of an unknown image size. */
export const NORMALIZED_BOXES_FLAG = 'reviewloop_boxes_normalized';

/** Item id for a Vertex AI line: instance.id / key, else a gs:// content URI, else a stable hash of the instance. */
export function vertexItemId(instance: Record<string, unknown>): string {
  const direct = readId(instance.id) ?? readId(instance.key);
  if (direct !== undefined) return direct;
  const content = instance.content;
  if (typeof content === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(content) && content.length <= MAX_ID_LENGTH) return content;
  const json = canonicalJson(instance);
  return `h:${murmur3(json, 1).toString(16).padStart(8, '0')}${murmur3(json, 2).toString(16).padStart(8, '0')}`;
}

// long: one branch per Vertex AI prediction schema (classification, extraction, detection), read in one place.
function normalizeVertex(v: Record<string, unknown>, opts: NormalizeOptions): NormalizeResult {
  const instance = v.instance;
  const pred = v.prediction;
  if (!isObj(instance)) return fail('instance', 'instance must be an object');
  const id = vertexItemId(instance);
  if (!isObj(pred)) return fail('prediction', 'prediction must be an object', id);
  const native: Record<string, unknown> = { id };
  const content = instance.content;
  const mime = typeof instance.mimeType === 'string' ? instance.mimeType : '';
  if (typeof content === 'string') {
    const isUri = /^[a-z][a-z0-9+.-]*:\/\//i.test(content);
    if (opts.task === 'image' || opts.task === 'image-boxes' || mime.startsWith('image/')) native.image = content;
    else if (opts.task === 'audio' || mime.startsWith('audio/')) native.audio = content;
    else if (!isUri || mime.startsWith('text/')) native.text = content;
    else native.text = content;
  }
  for (const k of ['width', 'height'] as const) if (instance[k] !== undefined) native[k] = instance[k];
  if (pred.deployedModelId !== undefined) native.model = pred.deployedModelId;
  if (v.deployedModelId !== undefined) native.model = v.deployedModelId;

  const names = pred.displayNames;
  const conf = pred.confidences;
  if (names !== undefined && !Array.isArray(names)) return fail('prediction.displayNames', 'displayNames must be an array', id);
  if (conf !== undefined && !Array.isArray(conf)) return fail('prediction.confidences', 'confidences must be an array', id);
  const nameArr = (names as unknown[] | undefined) ?? [];
  const confArr = (conf as unknown[] | undefined) ?? [];
  if (nameArr.length !== confArr.length) return fail('prediction.confidences', `${confArr.length} confidences for ${nameArr.length} displayNames`, id);

  if (pred.bboxes !== undefined) {
    const boxes = pred.bboxes;
    if (!Array.isArray(boxes) || boxes.length !== nameArr.length)
      return fail('prediction.bboxes', 'bboxes must be an array with one entry per displayName', id);
    const w = Number(instance.width);
    const h = Number(instance.height);
    const sized = w > 0 && h > 0;
    // Without a size on the line, an image URI lets the round read it from the object's metadata (worker/media/box-sizes.ts).
    if (!sized && !(typeof native.image === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(native.image))) {
      return fail(
        'instance.width',
        'detection bboxes are normalised: instance.width and instance.height (or an image URI whose object has width/height metadata) are needed to convert them to pixels',
        id,
      );
    }
    if (!sized) native.meta = { [NORMALIZED_BOXES_FLAG]: true };
    const out: unknown[] = [];
    for (let i = 0; i < boxes.length; i++) {
      const b = boxes[i];
      if (!Array.isArray(b) || b.length !== 4 || !b.every((x) => typeof x === 'number' && x >= 0 && x <= 1))
        return fail(`prediction.bboxes[${i}]`, 'expected [xMin, xMax, yMin, yMax] normalised to 0..1', id);
      const [x0, x1, y0, y1] = b as number[];
      if (x1 < x0 || y1 < y0) return fail(`prediction.bboxes[${i}]`, 'xMax < xMin or yMax < yMin', id);
      // Pixel coordinates rounded to 1e-6 so 0.1 × 200 is 20, not 20.000000000000004.
      const px = (v: number) => Math.round(v * 1e6) / 1e6;
      out.push(
        sized
          ? { x: px(x0 * w), y: px(y0 * h), w: px((x1 - x0) * w), h: px((y1 - y0) * h), label: nameArr[i], score: confArr[i] }
          : { x: x0, y: y0, w: x1 - x0, h: y1 - y0, label: nameArr[i], score: confArr[i] },
      );
    }
    native.boxes = out;
  } else if (pred.textSegmentStartOffsets !== undefined) {
    const starts = pred.textSegmentStartOffsets;
    const ends = pred.textSegmentEndOffsets;
    if (!Array.isArray(starts) || !Array.isArray(ends) || starts.length !== ends.length || starts.length !== nameArr.length) {
      return fail('prediction.textSegmentEndOffsets', 'start/end offsets, displayNames and confidences must have the same length', id);
    }
    // Vertex writes offsets as strings (int64 in JSON) and end offsets inclusive-exclusive per docs; Number() handles both forms.
    native.spans = starts.map((s, i) => ({ start: Number(s), end: Number(ends[i]), label: nameArr[i], score: confArr[i] }));
  } else if (names !== undefined) {
    const probs: Record<string, unknown> = {};
    for (let i = 0; i < nameArr.length; i++) {
      const label = nameArr[i];
      if (typeof label !== 'string') return fail(`prediction.displayNames[${i}]`, 'displayName must be a string', id);
      probs[label] = confArr[i];
    }
    native.probs = probs;
  }
  const r = normalizeNative(native, opts);
  if (!r.ok) return { ...r, field: r.field.startsWith('(') ? r.field : `prediction(${r.field})` };
  return r;
}

/** Arg-max label and its probability (ties: first label in config order). */
export function topLabel(probs: Record<string, number> | undefined, labels: string[]): { label: string | null; p: number } {
  if (!probs) return { label: null, p: NaN };
  let best: string | null = null;
  let bp = -1;
  for (const l of labels) {
    const p = probs[l];
    if (p !== undefined && p > bp) {
      bp = p;
      best = l;
    }
  }
  return { label: best, p: best === null ? NaN : bp };
}
