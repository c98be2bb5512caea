/**
 * Bounds how deeply a prediction line may nest objects and arrays. Everything
 * after parsing walks records recursively (normalizing, structured clone to the
 * main thread, JSON.stringify into the queue), so a line nesting thousands of
 * levels deep either overflows a stack or cannot be delivered between threads.
 * Such a line is rejected with the top-level field it nests under, before
 * JSON.parse builds it. Pure.
 */

/**
 * Deepest nesting a prediction line may have, counting the line's own object as
 * level 1. Real records (native or Vertex AI lines with their `instance`) nest
 * well under 10 levels; 64 leaves room for rich `meta` and stays far from any
 * stack limit.
 */
export const MAX_NESTING_DEPTH = 64;

export interface NestingViolation {
  /** Top-level key the too-deep value sits under, or null when the line itself is a deep array. */
  field: string | null;
  reason: string;
}

const OPEN_OBJ = 0x7b; // {
const OPEN_ARR = 0x5b; // [
const CLOSE_OBJ = 0x7d; // }
const CLOSE_ARR = 0x5d; // ]
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * Whether `line` nests deeper than `max`, and under which top-level key. Skipped
 * without looking at a single character when the line is too short to nest that
 * deep (each level costs at least two characters): invariant, a line of n
 * characters nests at most n/2 levels. Malformed JSON is left to JSON.parse; the
 * scan only counts brackets outside strings.
 */
export function nestingViolation(line: string, max = MAX_NESTING_DEPTH): NestingViolation | null {
  if (line.length <= 2 * max) return null;
  let depth = 0;
  let inString = false;
  // At depth 1 of an object, the string after `{` or `,` is a key: remember the latest one.
  let keyNext = false;
  let keyStart = -1;
  let key: string | null = null;
  let topIsObject = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) {
        inString = false;
        if (keyStart >= 0) { key = line.slice(keyStart, i); keyStart = -1; }
      }
      continue;
    }
    if (c === QUOTE) {
      inString = true;
      if (keyNext) { keyStart = i + 1; keyNext = false; }
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      depth++;
      if (depth > max) return { field: key, reason: `nested more than ${max} levels deep` };
      if (depth === 1) topIsObject = c === OPEN_OBJ;
      keyNext = depth === 1 && topIsObject;
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
      depth--;
      keyNext = false;
    } else if (c === COMMA) {
      keyNext = depth === 1 && topIsObject;
    }
  }
  return null;
}
