/**
 * A fast path for the commonest JSONL shape, `{"id","text","probs":{label:p},
 * "model"}` in any key order: one scan of the line, no `JSON.parse`, no
 * intermediate objects. It only *accepts* lines it can prove valid and whose
 * meaning it reproduces exactly (same doubles, same key order, same
 * validation); anything else — escapes, other keys, other value types,
 * duplicates, a bad probability, a sum off tolerance — returns false and the
 * caller takes the general path (JSON.parse + normalizeRecord), which
 * produces the reject reason. So the fast path can change speed, never
 * results.
 */

/** Reusable per-chunk state for {@link parseFastLine}. */
export interface FastLineScratch {
  /** The configured labels, in order. */
  readonly labels: readonly string[];
  readonly k: number;
  readonly singleLabel: boolean;
  readonly probTolerance: number;
  /** Probabilities in label order (0 where absent), ready for a kernel. */
  readonly row: Float64Array;
  /** 1 where the label was present in the line. */
  readonly present: Uint8Array;
  /** Label indices in the order they appeared (the record's key order). */
  readonly order: Int32Array;
  count: number;
  id: string;
  text: string | undefined;
  model: string | undefined;
  /** UTF-8 bytes of each label, for `parseFastBytes` (fast-bytes.ts). */
  readonly labelBytes: readonly Uint8Array[];
  /** Byte ranges of the fields found by `parseFastBytes` (inside the quotes; -1 when absent). */
  idStart: number;
  idEnd: number;
  textStart: number;
  textEnd: number;
  modelStart: number;
  modelEnd: number;
}

/**
 * Scratch for a chunk, or null when the labels rule the fast path out
 * (integer-like keys reorder in JS objects; `__proto__` is special).
 */
export function fastLineScratch(labels: readonly string[], singleLabel: boolean, probTolerance: number): FastLineScratch | null {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l.length === 0 || l === '__proto__' || /^(0|[1-9]\d*)$/.test(l) || /["\\\u0000-\u001f]/.test(l) || labels.indexOf(l) !== i) return null;
  }
  const k = labels.length;
  if (k === 0) return null;
  return {
    labels,
    k,
    singleLabel,
    probTolerance,
    row: new Float64Array(k),
    present: new Uint8Array(k),
    order: new Int32Array(k),
    count: 0,
    id: '',
    text: undefined,
    model: undefined,
    labelBytes: labels.map((l) => encoder.encode(l)),
    idStart: -1,
    idEnd: -1,
    textStart: -1,
    textEnd: -1,
    modelStart: -1,
    modelEnd: -1,
  };
}

export const MAX_ID_LENGTH = 1024;
const encoder = new TextEncoder();

function ws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** End index (exclusive, at the closing quote) of a plain string starting after `start`'s quote; -1 if escaped or with control characters. */
function plainStringEnd(line: string, start: number): number {
  const end = line.indexOf('"', start);
  if (end === -1) return -1;
  for (let i = start; i < end; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x20 || c === 0x5c) return -1;
  }
  return end;
}

function digit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** End of a strict JSON number at `i`, or -1. */
function numberEnd(line: string, i: number): number {
  const n = line.length;
  if (line.charCodeAt(i) === 0x2d) i++;
  if (i >= n) return -1;
  let c = line.charCodeAt(i);
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    i++;
    while (i < n && digit(line.charCodeAt(i))) i++;
  } else return -1;
  if (line.charCodeAt(i) === 0x2e) {
    i++;
    if (!digit(line.charCodeAt(i))) return -1;
    while (i < n && digit(line.charCodeAt(i))) i++;
  }
  c = line.charCodeAt(i);
  if (c === 0x65 || c === 0x45) {
    i++;
    c = line.charCodeAt(i);
    if (c === 0x2b || c === 0x2d) i++;
    if (!digit(line.charCodeAt(i))) return -1;
    while (i < n && digit(line.charCodeAt(i))) i++;
  }
  return i;
}

export const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * Value of the strict JSON number in line[i, end). Plain decimals with at
 * most 15 significant digits take Clinger's fast path: mantissa and power of
 * ten are both exact doubles, so one IEEE division is correctly rounded, the
 * same double JSON.parse returns. Everything else goes through Number().
 */
function numberValue(line: string, i: number, end: number): number {
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (let j = i; j < end; j++) {
    const c = line.charCodeAt(j);
    if (c === 0x2e) {
      frac = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return +line.slice(i, end);
    if (digits > 0 || c !== 0x30) digits++;
    m = m * 10 + (c - 0x30);
    if (frac >= 0) frac++;
  }
  if (digits > 15 || frac > 22) return +line.slice(i, end);
  return frac > 0 ? m / POW10[frac] : m;
}

/** Index of the label whose quoted name starts at `i` (after the quote), trying `guess` first; -1 if none. */
function labelAt(line: string, i: number, s: FastLineScratch, guess: number): number {
  const labels = s.labels;
  if (guess < s.k) {
    const l = labels[guess];
    if (line.charCodeAt(i + l.length) === 0x22 && line.startsWith(l, i)) return guess;
  }
  for (let j = 0; j < s.k; j++) {
    const l = labels[j];
    if (line.charCodeAt(i + l.length) === 0x22 && line.startsWith(l, i)) return j;
  }
  return -1;
}

/** Parses `{"label": number, ...}` at `i` (the `{`) into the scratch; returns the index after `}` or -1. */
function parseProbs(line: string, i: number, s: FastLineScratch): number {
  const n = line.length;
  i++;
  while (i < n && ws(line.charCodeAt(i))) i++;
  if (line.charCodeAt(i) === 0x7d) return -1; // empty: "no probabilities" is the slow path's to report
  for (;;) {
    if (line.charCodeAt(i) !== 0x22) return -1;
    // Labels hold no quote or backslash (fastLineScratch), so a match ends exactly at the closing quote.
    const li = labelAt(line, i + 1, s, s.count);
    if (li === -1 || s.present[li] === 1) return -1;
    i += s.labels[li].length + 2;
    while (i < n && ws(line.charCodeAt(i))) i++;
    if (line.charCodeAt(i) !== 0x3a) return -1;
    i++;
    while (i < n && ws(line.charCodeAt(i))) i++;
    const vEnd = numberEnd(line, i);
    if (vEnd === -1) return -1;
    const v = numberValue(line, i, vEnd);
    if (!(v >= 0 && v <= 1)) return -1;
    s.row[li] = v;
    s.present[li] = 1;
    s.order[s.count++] = li;
    i = vEnd;
    while (i < n && ws(line.charCodeAt(i))) i++;
    const c = line.charCodeAt(i);
    i++;
    if (c === 0x7d) return i;
    if (c !== 0x2c) return -1;
    while (i < n && ws(line.charCodeAt(i))) i++;
  }
}

/**
 * Tries the fast path on one line. True: `s` holds the record (id, text,
 * model, probabilities) and it passed every check `normalizeRecord` makes for
 * a `textcat`/`textcat-multilabel` record. False: use the general path.
 */
export function parseFastLine(line: string, s: FastLineScratch): boolean {
  s.row.fill(0);
  s.present.fill(0);
  s.count = 0;
  s.id = '';
  s.text = undefined;
  s.model = undefined;
  let seen = 0; // bits: 1 id, 2 text, 4 probs, 8 model
  const n = line.length;
  let i = 0;
  while (i < n && ws(line.charCodeAt(i))) i++;
  if (line.charCodeAt(i) !== 0x7b) return false;
  i++;
  while (i < n && ws(line.charCodeAt(i))) i++;
  for (;;) {
    if (line.charCodeAt(i) !== 0x22) return false;
    const kEnd = line.indexOf('"', i + 1);
    if (kEnd === -1) return false;
    const keyLen = kEnd - i - 1;
    let bit = 0;
    if (keyLen === 2 && line.startsWith('id', i + 1)) bit = 1;
    else if (keyLen === 4 && line.startsWith('text', i + 1)) bit = 2;
    else if (keyLen === 5 && line.startsWith('probs', i + 1)) bit = 4;
    else if (keyLen === 5 && line.startsWith('model', i + 1)) bit = 8;
    if (bit === 0 || (seen & bit) !== 0) return false;
    seen |= bit;
    i = kEnd + 1;
    while (i < n && ws(line.charCodeAt(i))) i++;
    if (line.charCodeAt(i) !== 0x3a) return false;
    i++;
    while (i < n && ws(line.charCodeAt(i))) i++;
    if (bit === 4) {
      if (line.charCodeAt(i) !== 0x7b) return false;
      i = parseProbs(line, i, s);
      if (i === -1) return false;
    } else {
      if (line.charCodeAt(i) !== 0x22) return false;
      const vEnd = plainStringEnd(line, i + 1);
      if (vEnd === -1) return false;
      const v = line.slice(i + 1, vEnd);
      if (bit === 1) s.id = v;
      else if (bit === 2) s.text = v;
      else s.model = v;
      i = vEnd + 1;
    }
    while (i < n && ws(line.charCodeAt(i))) i++;
    const c = line.charCodeAt(i);
    i++;
    if (c === 0x7d) break;
    if (c !== 0x2c) return false;
    while (i < n && ws(line.charCodeAt(i))) i++;
  }
  while (i < n && ws(line.charCodeAt(i))) i++;
  if (i !== n) return false;
  // What normalizeRecord would reject (or read differently) goes the general way.
  if ((seen & 7) !== 7 || s.id.length === 0 || s.id.length > MAX_ID_LENGTH) return false;
  if (s.singleLabel) {
    // Summed in the line's key order, as readProbs does, so the verdict is the same to the last bit.
    let sum = 0;
    for (let j = 0; j < s.count; j++) sum += s.row[s.order[j]];
    if (Math.abs(sum - 1) > s.probTolerance) return false;
  }
  return true;
}

/** The probabilities as a record field, keys in the line's order (as JSON.parse would build them). */
export function fastProbs(s: FastLineScratch, labels: readonly string[]): Record<string, number> {
  const probs: Record<string, number> = {};
  for (let j = 0; j < s.count; j++) probs[labels[s.order[j]]] = s.row[s.order[j]];
  return probs;
}
