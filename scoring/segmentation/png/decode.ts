/**
 * Mask PNGs → rasters the kernels read: a class-index raster (0 = background,
 * 1 + label position) and a confidence raster (the PNG's 0..255 bytes; a
 * kernel reads byte / 255 as the confidence in 0..1, so no float copy of a
 * 4096 × 4096 image is ever made).
 */
import { decodeBase64 } from './base64.js';
import { type ColorTable, hexColor } from './colors.js';
import { describeFormat, type PngImage, readPng, sampleAt, to8 } from './png-read.js';
import { fail, ok, type Raster, type SegResult } from '../result.js';

/** Largest mask accepted, in pixels: 8192 × 8192. */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;

export interface ExpectedSize {
  width: number;
  height: number;
}

function checkSize(img: PngImage, field: string, expected: ExpectedSize | undefined): SegResult<null> {
  if (expected && (img.width !== expected.width || img.height !== expected.height)) {
    return fail(field, `mask is ${img.width}x${img.height} but the image is ${expected.width}x${expected.height}`);
  }
  return ok(null);
}

/** One pixel as 0xRRGGBB in 8-bit terms, or -1 when it is fully transparent. */
function rgbAt(img: PngImage, x: number, y: number): number {
  if (img.palette) {
    const entry = img.palette[sampleAt(img, x, y, 0)];
    if (entry === undefined) return -2;
    if (entry.length > 3 && entry[3] === 0) return -1;
    return (entry[0] << 16) | (entry[1] << 8) | entry[2];
  }
  const d = img.depth;
  if (img.channels <= 2) {
    if (img.channels === 2 && sampleAt(img, x, y, 1) === 0) return -1;
    const g = to8(sampleAt(img, x, y, 0), d);
    return (g << 16) | (g << 8) | g;
  }
  if (img.channels === 4 && sampleAt(img, x, y, 3) === 0) return -1;
  return (to8(sampleAt(img, x, y, 0), d) << 16) | (to8(sampleAt(img, x, y, 1), d) << 8) | to8(sampleAt(img, x, y, 2), d);
}

/**
 * A colour-coded category mask (Vertex AI's `categoryMask`) → class indices.
 * Black and fully transparent pixels are background. Any other colour that is
 * not in the table fails the whole mask: guessing a nearest colour would put
 * wrong labels in front of reviewers.
 */
export function categoryMaskFromPng(
  bytes: Uint8Array,
  field: string,
  table: ColorTable,
  expected?: ExpectedSize,
  maxPixels = DEFAULT_MAX_PIXELS,
): SegResult<Raster> {
  const r = readPng(bytes, field, maxPixels);
  if (!r.ok) return r;
  const img = r.value;
  const size = checkSize(img, field, expected);
  if (!size.ok) return size;
  const out = new Uint8Array(img.width * img.height);
  if (img.depth === 8 && !img.palette && img.channels >= 3) return rgb8ToClasses(img, field, table, out);
  // Masks are long runs of one colour: remembering the last lookup skips most Map probes.
  let lastRgb = 0;
  let lastIndex = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const rgb = rgbAt(img, x, y);
      if (rgb === -1) continue;
      if (rgb === -2) return fail(field, `pixel (${x}, ${y}) uses palette entry ${sampleAt(img, x, y, 0)}, beyond the ${img.palette?.length}-colour palette`);
      if (rgb !== lastRgb) {
        const idx = table.get(rgb);
        if (idx === undefined)
          return fail(field, `colour ${hexColor(rgb)} at pixel (${x}, ${y}) is not black (background) and matches no label in segmentation.colors`);
        lastRgb = rgb;
        lastIndex = idx;
      }
      out[y * img.width + x] = lastIndex;
    }
  }
  return ok({ width: img.width, height: img.height, data: out });
}

/**
 * Fast path for the common 8-bit RGB / RGBA mask: reads samples straight from
 * the buffer. Same rules as the general loop (transparent = background,
 * unknown colour = reject); the fixtures hold one class layout as RGB (this path)
 * and as palette and 16-bit PNGs (the general loop), and must decode alike.
 */
function rgb8ToClasses(img: PngImage, field: string, table: ColorTable, out: Uint8Array): SegResult<Raster> {
  const d = img.data;
  const ch = img.channels;
  const alpha = ch === 4;
  let lastRgb = 0;
  let lastIndex = 0;
  for (let i = 0, j = 0; i < out.length; i++, j += ch) {
    if (alpha && d[j + 3] === 0) continue;
    const rgb = (d[j] << 16) | (d[j + 1] << 8) | d[j + 2];
    if (rgb !== lastRgb) {
      const idx = table.get(rgb);
      if (idx === undefined)
        return fail(
          field,
          `colour ${hexColor(rgb)} at pixel (${i % img.width}, ${Math.floor(i / img.width)}) is not black (background) and matches no label in segmentation.colors`,
        );
      lastRgb = rgb;
      lastIndex = idx;
    }
    out[i] = lastIndex;
  }
  return ok({ width: img.width, height: img.height, data: out });
}

/**
 * A class-index mask PNG (what the snapshots write, and what PIL's 'L' and 'P'
 * modes hold): grey values or palette indices are the class numbers directly;
 * a palette's colours are ignored, as PIL ignores them when reading 'P' masks.
 */
export function classIndexMaskFromPng(
  bytes: Uint8Array,
  field: string,
  labelCount: number,
  expected?: ExpectedSize,
  maxPixels = DEFAULT_MAX_PIXELS,
): SegResult<Raster> {
  const r = readPng(bytes, field, maxPixels);
  if (!r.ok) return r;
  const img = r.value;
  if (img.channels !== 1) return fail(field, `a class-index mask must be grey or palette, got ${describeFormat(img)}`);
  const size = checkSize(img, field, expected);
  if (!size.ok) return size;
  const out = new Uint8Array(img.width * img.height);
  if (img.depth === 8) {
    // 8-bit grey or palette: the samples are the class indices already; check the range, then copy once.
    const d = img.data;
    for (let i = 0; i < out.length; i++) {
      if (d[i] > labelCount) return classIndexTooHigh(field, d[i], i % img.width, Math.floor(i / img.width), labelCount);
    }
    out.set(d.subarray(0, out.length));
    return ok({ width: img.width, height: img.height, data: out });
  }
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const v = sampleAt(img, x, y, 0);
      if (v > labelCount) return classIndexTooHigh(field, v, x, y, labelCount);
      out[y * img.width + x] = v;
    }
  }
  return ok({ width: img.width, height: img.height, data: out });
}

/**
 * A confidence PNG: one channel, 8 bits, as Vertex AI documents its
 * `confidenceMask` (black = no confidence, white = full). Other formats are
 * refused rather than rescaled: a 16-bit or RGB "confidence" is a different
 * producer's convention, and guessing its meaning would skew every score.
 */
export function confidenceMaskFromPng(bytes: Uint8Array, field: string, expected?: ExpectedSize, maxPixels = DEFAULT_MAX_PIXELS): SegResult<Raster> {
  const r = readPng(bytes, field, maxPixels);
  if (!r.ok) return r;
  const img = r.value;
  if (img.channels !== 1 || img.depth !== 8 || img.palette)
    return fail(field, `a confidence mask must be an 8-bit single-channel (grey) PNG, got ${describeFormat(img)}`);
  const size = checkSize(img, field, expected);
  if (!size.ok) return size;
  const data = img.data instanceof Uint8Array ? img.data : new Uint8Array(img.data);
  return ok({ width: img.width, height: img.height, data: data.subarray(0, img.width * img.height) });
}

function classIndexTooHigh(field: string, v: number, x: number, y: number, labelCount: number): SegResult<Raster> {
  return fail(field, `class index ${v} at pixel (${x}, ${y}) is above the ${labelCount} labels (0 = background, 1..${labelCount} = labels)`);
}

/** base64 text → category mask raster (Vertex AI `prediction.categoryMask`). */
export function categoryMaskFromBase64(b64: unknown, field: string, table: ColorTable, expected?: ExpectedSize, maxPixels?: number): SegResult<Raster> {
  const bytes = decodeBase64(b64, field);
  return bytes.ok ? categoryMaskFromPng(bytes.value, field, table, expected, maxPixels) : bytes;
}

/** base64 text → confidence raster (Vertex AI `prediction.confidenceMask`). */
export function confidenceMaskFromBase64(b64: unknown, field: string, expected?: ExpectedSize, maxPixels?: number): SegResult<Raster> {
  const bytes = decodeBase64(b64, field);
  return bytes.ok ? confidenceMaskFromPng(bytes.value, field, expected, maxPixels) : bytes;
}
