/**
 * PNG bytes → a decoded image whose pixels can be read whatever the colour
 * type (palette, grey, grey+alpha, RGB, RGBA) and bit depth (1, 2, 4, 8, 16).
 * fast-png does the codec work; this file only checks limits before decoding
 * and reads samples, including the sub-byte depths fast-png leaves packed.
 */
import { decode } from 'fast-png';
import { fail, ok, type SegResult } from '../result.js';

export interface PngImage {
  width: number;
  height: number;
  /** 1 grey or palette index, 2 grey+alpha, 3 RGB, 4 RGBA. */
  channels: number;
  depth: number;
  /** Samples as fast-png returns them: packed rows for depth < 8, one element per sample otherwise. */
  data: Uint8Array | Uint16Array | Uint8ClampedArray;
  /** Palette entries [r, g, b] or [r, g, b, a] (8-bit) for colour type 3. */
  palette?: number[][];
  /** Bytes per row of `data` when depth < 8 (rows are padded to whole bytes). */
  rowBytes: number;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Decodes `bytes` as a PNG. Width × height is read from the IHDR chunk and
 * checked against `maxPixels` before any inflation, so a small file that
 * claims a huge image (a decompression bomb) is refused without allocating.
 */
export function readPng(bytes: Uint8Array, field: string, maxPixels: number): SegResult<PngImage> {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) return fail(field, 'corrupt PNG: missing PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width === 0 || height === 0) return fail(field, `corrupt PNG: IHDR says ${width}x${height}`);
  if (width * height > maxPixels) return fail(field, `PNG is ${width}x${height} = ${width * height} pixels, above the limit of ${maxPixels}`);
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes, { checkCrc: true });
  } catch (e) {
    return fail(field, `corrupt PNG: ${(e as Error).message}`);
  }
  const rowBytes = Math.ceil((png.depth * png.channels * png.width) / 8);
  const expected = png.depth < 8 ? rowBytes * png.height : png.width * png.height * png.channels;
  // A truncated IDAT stream can inflate without an error but yield fewer samples than the header promises.
  if (png.data.length < expected) return fail(field, `corrupt PNG: image data holds ${png.data.length} samples, the header needs ${expected}`);
  const isPalette = png.palette !== undefined && png.palette.length > 0 && png.channels === 1;
  return ok({
    width: png.width,
    height: png.height,
    channels: png.channels,
    depth: png.depth,
    data: png.data,
    palette: isPalette ? png.palette : undefined,
    rowBytes,
  });
}

/**
 * Reads channel `c` of pixel (x, y) as stored (palette index, or a sample of
 * `depth` bits). Only the sub-byte depths need the slower bit arithmetic.
 */
export function sampleAt(img: PngImage, x: number, y: number, c: number): number {
  if (img.depth >= 8) return img.data[(y * img.width + x) * img.channels + c];
  // Sub-byte depths exist only for one-channel images (grey or palette); pixels are packed MSB first.
  const bit = x * img.depth;
  const byte = img.data[y * img.rowBytes + (bit >> 3)];
  return (byte >> (8 - img.depth - (bit & 7))) & ((1 << img.depth) - 1);
}

/** A sample scaled to 0..255, so 16-bit colours compare with 8-bit configured ones. */
export function to8(value: number, depth: number): number {
  if (depth === 16) return Math.round(value / 257);
  if (depth === 8) return value;
  // Grey at 1, 2 or 4 bits spans 0..255 by replication (PNG spec 13.12): 0b1 → 255, 0b10 → 170.
  return Math.round((value * 255) / ((1 << depth) - 1));
}

export function describeFormat(img: PngImage): string {
  const kind = img.palette ? 'palette' : (['grey', 'grey+alpha', 'RGB', 'RGBA'][img.channels - 1] ?? `${img.channels}-channel`);
  return `${kind} at ${img.depth} bits`;
}
