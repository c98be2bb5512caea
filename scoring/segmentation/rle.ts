/**
 * COCO run-length encoding, bit-compatible with pycocotools (maskApi.c):
 * - runs alternate background, foreground, background, … starting with a
 *   (possibly empty) background run;
 * - pixels are counted in column-major (Fortran) order: down the first
 *   column, then the next, so run position p is pixel (x = ⌊p / h⌋, y = p mod h);
 * - the compressed string form stores each count as 5-bit groups with a
 *   continuation bit (0x20) and a sign bit (0x10) on the last group, offset by
 *   48 into printable ASCII, and from the fourth count on stores the
 *   difference to the count two places back (rleToString / rleFrString).
 * Rasters here are row-major (`data[y * w + x]`), like the PNGs; the encoders
 * do the transposition.
 */
import { fail, ok, type SegResult } from './result.js';

export interface CocoRle {
  /** [height, width], as COCO writes it. */
  size: [number, number];
  counts: number[] | string;
}

/** Compressed COCO string → counts (rleFrString). Fails on characters outside '0'..'o' or a dangling continuation. */
export function countsFromString(s: string): number[] | string {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= s.length) return 'compressed counts end in the middle of a number';
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) return `character ${JSON.stringify(s[p])} at offset ${p} is outside the COCO RLE alphabet ('0'..'o')`;
      if (k >= 7) return `a count at offset ${p} is longer than 7 groups (above 2^35)`;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      // Sign-extend from the last group's 0x10 bit, as maskApi.c does with `x |= -1 << 5*k`.
      if (!more && (c & 0x10) !== 0) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Counts → compressed COCO string (rleToString). */
export function countsToString(counts: readonly number[]): string {
  let s = '';
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    let more = true;
    while (more) {
      // Arithmetic (not bitwise) shifts keep counts above 2^31 exact.
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

function checkSize(size: unknown, field: string): SegResult<[number, number]> {
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isSafeInteger(v) && v > 0)) {
    return fail(`${field}.size`, 'expected [height, width] as two positive integers');
  }
  return ok([size[0], size[1]]);
}

/**
 * Reads an RLE object (uncompressed counts array or compressed string) into a
 * row-major 0/1 raster of its own size. The counts must cover exactly h·w
 * pixels: a shorter or longer RLE means a different mask size or a truncated
 * record, and either would paint the wrong pixels.
 */
export function decodeRle(value: unknown, field: string): SegResult<{ width: number; height: number; data: Uint8Array }> {
  if (typeof value !== 'object' || value === null) return fail(field, 'expected an RLE object {"size": [h, w], "counts": …}');
  const rle = value as Record<string, unknown>;
  const size = checkSize(rle.size, field);
  if (!size.ok) return size;
  const [h, w] = size.value;
  let counts: number[];
  if (typeof rle.counts === 'string') {
    const parsed = countsFromString(rle.counts);
    if (typeof parsed === 'string') return fail(`${field}.counts`, parsed);
    counts = parsed;
  } else if (Array.isArray(rle.counts)) {
    counts = rle.counts as number[];
  } else {
    return fail(`${field}.counts`, 'expected an array of run lengths or a compressed COCO string');
  }
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (!Number.isSafeInteger(c) || c < 0) return fail(`${field}.counts`, `run ${i} is ${JSON.stringify(c)}, not a non-negative integer`);
    total += c;
  }
  if (total !== h * w) return fail(`${field}.counts`, `runs cover ${total} pixels but size [${h}, ${w}] has ${h * w}`);
  const data = new Uint8Array(h * w);
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const end = p + counts[i];
    if (i % 2 === 1) {
      for (let q = p; q < end; q++) data[(q % h) * w + Math.floor(q / h)] = 1;
    }
    p = end;
  }
  return ok({ width: w, height: h, data });
}

/** A row-major raster → uncompressed COCO counts for `value !== 0` pixels. */
export function encodeRleCounts(data: ArrayLike<number>, width: number, height: number): number[] {
  const counts: number[] = [];
  let prev = 0;
  let run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = data[y * width + x] !== 0 ? 1 : 0;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

/** A row-major raster → compressed COCO RLE, as pycocotools.mask.encode returns it (counts as text). */
export function encodeRle(data: ArrayLike<number>, width: number, height: number): { size: [number, number]; counts: string } {
  return { size: [height, width], counts: countsToString(encodeRleCounts(data, width, height)) };
}
