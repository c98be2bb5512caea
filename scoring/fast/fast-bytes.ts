/**
 * The fast path of fast-line.ts straight from UTF-8 bytes: no string per
 * line, and none for the text, id or model of a record the heaps will not
 * keep. It accepts exactly the lines `parseFastLine` accepts on their decoded
 * text (proved by the property tests in test/unit/fast-line.test.ts), with one
 * more rule: string contents must be well-formed UTF-8, as the fatal decoder
 * requires; anything else goes to the string path, which reports it.
 *
 * Why one long function: this runs once per record, ~0.5 µs of budget. Split
 * into helpers that hand results back through the scratch object, V8's
 * inlining budget ran out, numbers went through heap fields and runs varied
 * 2× from one process to the next. Here every intermediate is a local and the
 * scratch is written once, at the end.
 */
import { MAX_ID_LENGTH, POW10, type FastLineScratch } from './fast-line.js';

const TWO_53 = 9007199254740992;
const numberDecoder = new TextDecoder('utf-8');

function wsByte(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

/** True when b[i…] holds `lb` followed by a closing quote, before `end`. */
function labelMatches(b: Uint8Array, i: number, end: number, lb: Uint8Array): boolean {
  const n = lb.length;
  if (i + n >= end || b[i + n] !== 0x22) return false;
  for (let x = 0; x < n; x++) if (b[i + x] !== lb[x]) return false;
  return true;
}

/**
 * After a member: whitespace, then `,` (returns the index past it and the
 * whitespace that follows) or `}` (returns -(index past it) - 2); -1 for
 * anything else. One number keeps it small enough for V8 to inline.
 */
function separator(b: Uint8Array, i: number, end: number): number {
  while (i < end && wsByte(b[i])) i++;
  if (i >= end) return -1;
  const c = b[i++];
  if (c === 0x7d) return -i - 2;
  if (c !== 0x2c) return -1;
  while (i < end && wsByte(b[i])) i++;
  return i;
}

function inRange(b: Uint8Array, i: number, end: number, lo: number, hi: number): boolean {
  if (i >= end) return false;
  const c = b[i];
  return c >= lo && c <= hi;
}

/**
 * {@link parseFastLine} on the UTF-8 line that starts at b[start] and ends at
 * the next newline or at `limit`. Returns the index of that newline (or
 * `limit`) when the line takes the fast path: probabilities are then in
 * `s.row`/`s.present`/`s.order` and the strings' byte ranges in `s.idStart`…
 * (decode them with {@link fastString} when needed). Returns -1 otherwise.
 * Finding the line's end while parsing saves a memchr call per line.
 */
// long: one state machine over the bytes of one line, called once per record. Its cursor and the
// fields found so far are locals; each key's branch advances the cursor and writes them. Split per
// key, every branch would return the cursor and its findings through a call or a shared object on
// every record; the small byte helpers above are the pieces that split without that cost.
export function parseFastBytes(b: Uint8Array, start: number, limit: number, s: FastLineScratch): number {
  // A line holds no newline byte, so inside it "whitespace" is space, tab and CR; a newline ends it.
  const end = limit;
  const { row, present, order, labelBytes, k } = s;
  // Plain loops: TypedArray#fill is a builtin call, dearer than six stores.
  for (let j = 0; j < k; j++) {
    row[j] = 0;
    present[j] = 0;
  }
  let count = 0;
  let idStart = -1;
  let idEnd = -1;
  let textStart = -1;
  let textEnd = -1;
  let modelStart = -1;
  let modelEnd = -1;
  let idUnits = 0;
  let seen = 0; // bits: 1 id, 2 text, 4 probs, 8 model
  let i = start;
  let c = 0;
  while (i < end && wsByte(b[i])) i++;
  if (i >= end || b[i] !== 0x7b) return -1;
  i++;
  while (i < end && wsByte(b[i])) i++;
  for (;;) {
    if (i >= end || b[i] !== 0x22) return -1;
    // Keys we accept are plain ASCII, so the first quote ends them; any other key is refused below.
    const k0 = i + 1;
    let k1 = k0;
    while (k1 < end && b[k1] !== 0x22) k1++;
    if (k1 >= end) return -1;
    const len = k1 - k0;
    let bit = 0;
    if (len === 2) {
      if (b[k0] === 0x69 && b[k0 + 1] === 0x64) bit = 1;
    } else if (len === 4) {
      if (b[k0] === 0x74 && b[k0 + 1] === 0x65 && b[k0 + 2] === 0x78 && b[k0 + 3] === 0x74) bit = 2;
    } else if (len === 5) {
      if (b[k0] === 0x70 && b[k0 + 1] === 0x72 && b[k0 + 2] === 0x6f && b[k0 + 3] === 0x62 && b[k0 + 4] === 0x73) bit = 4;
      else if (b[k0] === 0x6d && b[k0 + 1] === 0x6f && b[k0 + 2] === 0x64 && b[k0 + 3] === 0x65 && b[k0 + 4] === 0x6c) bit = 8;
    }
    if (bit === 0 || (seen & bit) !== 0) return -1;
    seen |= bit;
    i = k1 + 1;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end || b[i] !== 0x3a) return -1;
    i++;
    while (i < end && wsByte(b[i])) i++;
    if (i >= end) return -1;
    if (bit === 4) {
      // {"label": number, ...}; an empty object ("no probabilities") is the slow path's to report.
      if (b[i] !== 0x7b) return -1;
      i++;
      while (i < end && wsByte(b[i])) i++;
      if (i >= end || b[i] === 0x7d) return -1;
      for (;;) {
        if (i >= end || b[i] !== 0x22) return -1;
        // Try the next label in config order first: lines usually list them that way.
        let li = -1;
        if (count < k && labelMatches(b, i + 1, end, labelBytes[count])) li = count;
        else
          for (let j = 0; j < k; j++)
            if (j !== count && labelMatches(b, i + 1, end, labelBytes[j])) {
              li = j;
              break;
            }
        if (li === -1 || present[li] === 1) return -1;
        i += labelBytes[li].length + 2;
        while (i < end && wsByte(b[i])) i++;
        if (i >= end || b[i] !== 0x3a) return -1;
        i++;
        while (i < end && wsByte(b[i])) i++;
        // A strict JSON number. Clinger's fast path: a decimal mantissa below 2^53 and a power of ten
        // within 10^±22 are exact doubles, so one IEEE multiplication or division is correctly
        // rounded, i.e. the double JSON.parse returns. Anything else goes through Number().
        const n0 = i;
        const neg = i < end && b[i] === 0x2d;
        if (neg) i++;
        if (i >= end) return -1;
        c = b[i];
        let m = 0;
        if (c === 0x30) i++;
        else if (c >= 0x31 && c <= 0x39) {
          while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) {
            m = m * 10 + (c - 0x30);
            i++;
          }
        } else return -1;
        let exp = 0;
        if (i < end && b[i] === 0x2e) {
          i++;
          const f0 = i;
          while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) {
            m = m * 10 + (c - 0x30);
            i++;
          }
          if (i === f0) return -1;
          exp = f0 - i;
        }
        if (i < end && (b[i] | 0x20) === 0x65) {
          i++;
          let eneg = false;
          if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) {
            eneg = b[i] === 0x2d;
            i++;
          }
          const e0 = i;
          let e = 0;
          while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) {
            if (e < 1e6) e = e * 10 + (c - 0x30);
            i++;
          }
          if (i === e0) return -1;
          exp += eneg ? -e : e;
        }
        let v: number;
        if (m < TWO_53 && exp >= -22 && exp <= 22) {
          v = exp >= 0 ? m * POW10[exp] : m / POW10[-exp];
          if (neg) v = -v;
        } else {
          v = +numberDecoder.decode(b.subarray(n0, i));
        }
        if (!(v >= 0 && v <= 1)) return -1;
        row[li] = v;
        present[li] = 1;
        order[count++] = li;
        i = separator(b, i, end);
        if (i === -1) return -1;
        if (i < -1) {
          i = -i - 2;
          break;
        }
      }
    } else {
      // A string without escapes or control characters, well-formed UTF-8 (Unicode table 3-7, as
      // TextDecoder's fatal mode checks); `units` counts its UTF-16 length.
      if (b[i] !== 0x22) return -1;
      const v0 = i + 1;
      let units = 0;
      i = v0;
      for (;;) {
        if (i >= end) return -1;
        c = b[i];
        if (c < 0x80) {
          if (c === 0x22) break;
          if (c < 0x20 || c === 0x5c) return -1;
          i++;
          units++;
        } else if (c >= 0xc2 && c <= 0xdf) {
          if (!inRange(b, i + 1, end, 0x80, 0xbf)) return -1;
          i += 2;
          units++;
        } else if (c >= 0xe0 && c <= 0xef) {
          if (!inRange(b, i + 1, end, c === 0xe0 ? 0xa0 : 0x80, c === 0xed ? 0x9f : 0xbf) || !inRange(b, i + 2, end, 0x80, 0xbf)) return -1;
          i += 3;
          units++;
        } else if (c >= 0xf0 && c <= 0xf4) {
          if (
            !inRange(b, i + 1, end, c === 0xf0 ? 0x90 : 0x80, c === 0xf4 ? 0x8f : 0xbf) ||
            !inRange(b, i + 2, end, 0x80, 0xbf) ||
            !inRange(b, i + 3, end, 0x80, 0xbf)
          )
            return -1;
          i += 4;
          units += 2; // a surrogate pair
        } else {
          return -1;
        }
      }
      if (bit === 1) {
        idStart = v0;
        idEnd = i;
        idUnits = units;
      } else if (bit === 2) {
        textStart = v0;
        textEnd = i;
      } else {
        modelStart = v0;
        modelEnd = i;
      }
      i++;
    }
    i = separator(b, i, end);
    if (i === -1) return -1;
    if (i < -1) {
      i = -i - 2;
      break;
    }
  }
  while (i < end && wsByte(b[i])) i++;
  if (i !== end && b[i] !== 0x0a) return -1;
  if ((seen & 7) !== 7 || idUnits === 0 || idUnits > MAX_ID_LENGTH) return -1;
  if (s.singleLabel) {
    // Summed in the line's key order, as readProbs does, so the verdict is the same to the last bit.
    let sum = 0;
    for (let j = 0; j < count; j++) sum += row[order[j]];
    if (Math.abs(sum - 1) > s.probTolerance) return -1;
  }
  s.count = count;
  s.idStart = idStart;
  s.idEnd = idEnd;
  s.textStart = textStart;
  s.textEnd = textEnd;
  s.modelStart = modelStart;
  s.modelEnd = modelEnd;
  return i;
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
    for (let i = start; i < end; i++)
      if (b[i] >= 0x80) {
        ascii = false;
        break;
      }
    if (ascii) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  }
  return stringDecoder.decode(b.subarray(start, end));
}
