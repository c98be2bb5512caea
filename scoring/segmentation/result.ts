/**
 * The typed outcome every segmentation decoder returns: a value, or the field
 * at fault and a reason a user can act on. The worker turns a failure into a
 * reject line (object, line, field, reason) and goes on with the round.
 */

export type SegResult<T> = { ok: true; value: T } | { ok: false; field: string; reason: string };

export type SegFailure = Extract<SegResult<never>, { ok: false }>;

export function ok<T>(value: T): SegResult<T> {
  return { ok: true, value };
}

export function fail(field: string, reason: string): SegFailure {
  return { ok: false, field, reason };
}

/** A single-channel raster, row-major, `data[y * width + x]`. */
export interface Raster {
  width: number;
  height: number;
  data: Uint8Array;
}
