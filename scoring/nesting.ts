/**
 * Bounds how deeply a prediction line may nest objects and arrays. Everything
 * after parsing walks records recursively (normalizing, structured clone to the
 * main thread, JSON.stringify into the queue), so a line nesting thousands of
 * levels deep either overflows a stack or cannot be delivered between threads.
 * Such a line is rejected with the top-level field it nests under. Pure.
 *
 * V8's JSON.parse is iterative (a line 100 000 levels deep parses), so the
 * check runs on the parsed value, with recursion bounded by the limit; and it
 * runs only on lines that hold more than the limit's count of `{` and `[`
 * (two memchr-speed passes, about 6% of JSON.parse's time on a typical line).
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

/**
 * False when `line` cannot nest deeper than `max`. Invariant: every level opens
 * with `{` or `[`, so a line holding at most `max` of them (inside strings
 * included) nests at most `max` levels.
 */
export function mayNestDeeperThan(line: string, max = MAX_NESTING_DEPTH): boolean {
  let n = 0;
  for (let i = line.indexOf('{'); i !== -1 && n <= max; i = line.indexOf('{', i + 1)) n++;
  for (let i = line.indexOf('['); i !== -1 && n <= max; i = line.indexOf('[', i + 1)) n++;
  return n > max;
}

/** Whether `v`, found at `depth`, holds an object or array deeper than `max`. Recursion stops at `max`. */
function tooDeep(v: unknown, depth: number, max: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (depth > max) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (tooDeep(x, depth + 1, max)) return true;
    return false;
  }
  for (const k in v) if (tooDeep((v as Record<string, unknown>)[k], depth + 1, max)) return true;
  return false;
}

/** The parsed line's violation of the bound, naming the top-level field it is under, or null. */
export function nestingViolation(value: unknown, max = MAX_NESTING_DEPTH): NestingViolation | null {
  const reason = `nested more than ${max} levels deep`;
  if (typeof value !== 'object' || value === null) return null;
  if (Array.isArray(value)) return tooDeep(value, 1, max) ? { field: null, reason } : null;
  for (const k in value) if (tooDeep((value as Record<string, unknown>)[k], 2, max)) return { field: k, reason };
  return null;
}
