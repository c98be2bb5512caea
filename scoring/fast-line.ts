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
  /** UTF-8 bytes of each label, for {@link parseFastBytes}. */
  readonly labelBytes: readonly Uint8Array[];
  /** Byte ranges of the fields found by {@link parseFastBytes} (inside the quotes; -1 when absent). */
  idStart: number;
  idEnd: number;
  textStart: number;
  textEnd: number;
  modelStart: number;
  modelEnd: number;
  /** UTF-16 length of the last string scanned from bytes. */
  units: number;
  /** Value of the last number scanned from bytes. */
  num: number;
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
    labels, k, singleLabel, probTolerance,
    row: new Float64Array(k), present: new Uint8Array(k), order: new Int32Array(k),
    count: 0, id: '', text: undefined, model: undefined,
    labelBytes: labels.map((l) => encoder.encode(l)),
    idStart: -1, idEnd: -1, textStart: -1, textEnd: -1, modelStart: -1, modelEnd: -1, units: 0, num: 0,
  };
}

const MAX_ID_LENGTH = 1024;
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
  else if (c >= 0x31 && c <= 0x39) { i++; while (i < n && digit(line.charCodeAt(i))) i++; } else return -1;
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

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

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
    if (c === 0x2e) { frac = 0; continue; }
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

// ---------------------------------------------------------------------------
// The same fast path straight from UTF-8 bytes: no string per line, and none
// for the text, id or model of a record the heaps will not keep. It accepts
// exactly the lines `parseFastLine` accepts on their decoded text (proved by
// the property test in test/unit/fast-line.test.ts), with one more rule:
// string contents must be well-formed UTF-8, as the fatal decoder requires;
// anything else goes to the string path, which reports it.

function wsByte(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

function cont(b: Uint8Array, i: number, end: number, lo: number, hi: number): boolean {
  if (i >= end) return false;
  const c = b[i];
  return c >= lo && c <= hi;
}

/**
 * Index of the closing quote of a string whose contents start at `i`, or -1
 * when it has an escape, a control character or malformed UTF-8 (the cases
 * the string path decides). Sets `s.units` to the UTF-16 length.
 */
function byteStringEnd(b: Uint8Array, i: number, end: number, s: FastLineScratch): number {
  let units = 0;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      if (c === 0x22) { s.units = units; return i; }
      if (c < 0x20 || c === 0x5c) return -1;
      i++;
      units++;
      continue;
    }
    // Well-formed UTF-8 only (Unicode table 3-7), as TextDecoder's fatal mode checks.
    if (c >= 0xc2 && c <= 0xdf) {
      if (!cont(b, i + 1, end, 0x80, 0xbf)) return -1;
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      const lo = c === 0xe0 ? 0xa0 : 0x80;
      const hi = c === 0xed ? 0x9f : 0xbf;
      if (!cont(b, i + 1, end, lo, hi) || !cont(b, i + 2, end, 0x80, 0xbf)) return -1;
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      const lo = c === 0xf0 ? 0x90 : 0x80;
      const hi = c === 0xf4 ? 0x8f : 0xbf;
      if (!cont(b, i + 1, end, lo, hi) || !cont(b, i + 2, end, 0x80, 0xbf) || !cont(b, i + 3, end, 0x80, 0xbf)) return -1;
      i += 4;
      units++; // a surrogate pair
    } else {
      return -1;
    }
    units++;
  }
  return -1;
}

function digitByte(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

const TWO_53 = 9007199254740992;
const asciiDecoder = new TextDecoder('utf-8');

/**
 * Scans a strict JSON number at `i`; returns its end and leaves its value in
 * `s.num`, or -1 when it is not a JSON number. Clinger's fast path: when the
 * decimal mantissa is below 2^53 and the power of ten within 10^±22, both
 * are exact doubles and one IEEE multiplication or division is correctly
 * rounded, i.e. the double JSON.parse returns. Anything else goes through
 * Number() on the digits.
 */
function byteNumber(b: Uint8Array, i: number, end: number, s: FastLineScratch): number {
  let j = i;
  const neg = b[j] === 0x2d;
  if (neg) j++;
  if (j >= end) return -1;
  let c = b[j];
  let m = 0;
  if (c === 0x30) j++;
  else if (c >= 0x31 && c <= 0x39) {
    while (j < end && digitByte(c = b[j])) { m = m * 10 + (c - 0x30); j++; }
  } else return -1;
  let exp = 0;
  if (j < end && b[j] === 0x2e) {
    j++;
    const f0 = j;
    while (j < end && digitByte(c = b[j])) { m = m * 10 + (c - 0x30); j++; }
    if (j === f0) return -1;
    exp = f0 - j;
  }
  if (j < end && (b[j] | 0x20) === 0x65) {
    j++;
    let eneg = false;
    if (j < end && (b[j] === 0x2b || b[j] === 0x2d)) { eneg = b[j] === 0x2d; j++; }
    const e0 = j;
    let e = 0;
    while (j < end && digitByte(c = b[j])) { if (e < 1e6) e = e * 10 + (c - 0x30); j++; }
    if (j === e0) return -1;
    exp += eneg ? -e : e;
  }
  let v: number;
  if (m < TWO_53 && exp >= -22 && exp <= 22) {
    v = exp >= 0 ? m * POW10[exp] : m / POW10[-exp];
    if (neg) v = -v;
  } else {
    v = +asciiDecoder.decode(b.subarray(i, j));
  }
  s.num = v;
  return j;
}

function labelMatches(b: Uint8Array, i: number, end: number, lb: Uint8Array): boolean {
  const n = lb.length;
  if (i + n >= end || b[i + n] !== 0x22) return false;
  for (let x = 0; x < n; x++) if (b[i + x] !== lb[x]) return false;
  return true;
}

/** Index of the label whose quoted UTF-8 name starts at `i`, trying `guess` (the next in config order) first; -1 if none. */
function labelAtBytes(b: Uint8Array, i: number, end: number, s: FastLineScratch, guess: number): number {
  const lbs = s.labelBytes;
  if (guess < s.k && labelMatches(b, i, end, lbs[guess])) return guess;
  for (let j = 0; j < s.k; j++) if (j !== guess && labelMatches(b, i, end, lbs[j])) return j;
  return -1;
}

/** `{"label": number, ...}` at `i` (the `{`) into the scratch; the index after `}`, or -1. */
function parseProbsBytes(b: Uint8Array, i: number, end: number, s: FastLineScratch): number {
  i++;
  while (i < end && wsByte(b[i])) i++;
  if (b[i] === 0x7d) return -1;
  for (;;) {
    if (i >= end || b[i] !== 0x22) return -1;
    const li = labelAtBytes(b, i + 1, end, s, s.count);
    if (li === -1 || s.present[li] === 1) return -1;
    i += s.labelBytes[li].length + 2;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end || b[i] !== 0x3a) return -1;
    i++;
    while (i < end && wsByte(b[i])) i++;
    i = byteNumber(b, i, end, s);
    if (i === -1) return -1;
    const v = s.num;
    if (!(v >= 0 && v <= 1)) return -1;
    s.row[li] = v;
    s.present[li] = 1;
    s.order[s.count++] = li;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end) return -1;
    const c = b[i++];
    if (c === 0x7d) return i;
    if (c !== 0x2c) return -1;
    while (i < end && wsByte(b[i])) i++;
  }
}

/** Which of the four keys the quoted key at b[i…end) (contents, no quotes) is: bit 1 id, 2 text, 4 probs, 8 model, 0 other. */
function keyBit(b: Uint8Array, i: number, len: number): number {
  if (len === 2) return b[i] === 0x69 && b[i + 1] === 0x64 ? 1 : 0;
  if (len === 4) return b[i] === 0x74 && b[i + 1] === 0x65 && b[i + 2] === 0x78 && b[i + 3] === 0x74 ? 2 : 0;
  if (len !== 5) return 0;
  if (b[i] === 0x70 && b[i + 1] === 0x72 && b[i + 2] === 0x6f && b[i + 3] === 0x62 && b[i + 4] === 0x73) return 4;
  if (b[i] === 0x6d && b[i + 1] === 0x6f && b[i + 2] === 0x64 && b[i + 3] === 0x65 && b[i + 4] === 0x6c) return 8;
  return 0;
}

/**
 * {@link parseFastLine} on the UTF-8 bytes b[start, end) of one line. True:
 * probabilities are in `s.row`/`s.present`/`s.order` and the strings' byte
 * ranges in `s.idStart`… (decode them with {@link fastString} when needed).
 */
export function parseFastBytes(b: Uint8Array, start: number, end: number, s: FastLineScratch): boolean {
  // Plain loops: TypedArray#fill is a builtin call, dearer than six stores.
  const { row, present } = s;
  for (let j = 0; j < s.k; j++) { row[j] = 0; present[j] = 0; }
  s.count = 0;
  s.idStart = s.idEnd = s.textStart = s.textEnd = s.modelStart = s.modelEnd = -1;
  let idUnits = 0;
  let seen = 0;
  let i = start;
  while (i < end && wsByte(b[i])) i++;
  if (i >= end || b[i] !== 0x7b) return false;
  i++;
  while (i < end && wsByte(b[i])) i++;
  for (;;) {
    if (i >= end || b[i] !== 0x22) return false;
    // Keys we accept are plain ASCII, so the first quote ends them; others fail keyBit either way.
    let kEnd = i + 1;
    while (kEnd < end && b[kEnd] !== 0x22) kEnd++;
    if (kEnd >= end) return false;
    const bit = keyBit(b, i + 1, kEnd - i - 1);
    if (bit === 0 || (seen & bit) !== 0) return false;
    seen |= bit;
    i = kEnd + 1;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end || b[i] !== 0x3a) return false;
    i++;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end) return false;
    if (bit === 4) {
      if (b[i] !== 0x7b) return false;
      i = parseProbsBytes(b, i, end, s);
      if (i === -1) return false;
    } else {
      if (b[i] !== 0x22) return false;
      const vEnd = byteStringEnd(b, i + 1, end, s);
      if (vEnd === -1) return false;
      if (bit === 1) { s.idStart = i + 1; s.idEnd = vEnd; idUnits = s.units; } else if (bit === 2) { s.textStart = i + 1; s.textEnd = vEnd; } else { s.modelStart = i + 1; s.modelEnd = vEnd; }
      i = vEnd + 1;
    }
    while (i < end && wsByte(b[i])) i++;
    if (i >= end) return false;
    const c = b[i++];
    if (c === 0x7d) break;
    if (c !== 0x2c) return false;
    while (i < end && wsByte(b[i])) i++;
  }
  while (i < end && wsByte(b[i])) i++;
  if (i !== end) return false;
  if ((seen & 7) !== 7 || idUnits === 0 || idUnits > MAX_ID_LENGTH) return false;
  if (s.singleLabel) {
    let sum = 0;
    for (let j = 0; j < s.count; j++) sum += s.row[s.order[j]];
    if (Math.abs(sum - 1) > s.probTolerance) return false;
  }
  return true;
}

// ignoreBOM: a U+FEFF inside a JSON string is content, as JSON.parse keeps it.
const stringDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** The string at b[start, end) (validated by {@link parseFastBytes}), or undefined when the field was absent (start -1). */
export function fastString(b: Uint8Array, start: number, end: number): string | undefined {
  if (start < 0) return undefined;
  const n = end - start;
  if (n <= 32) {
    // Short ASCII strings (ids, model names) without the decoder's call overhead.
    let ascii = true;
    for (let i = start; i < end; i++) if (b[i] >= 0x80) { ascii = false; break; }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  }
  return stringDecoder.decode(b.subarray(start, end));
}
