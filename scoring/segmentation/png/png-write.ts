/**
 * Class-index raster → PNG bytes: 8-bit grey, one channel, 0 = background,
 * 1 + the label's position in `labels` (what `PIL.Image.open(p)` gives as mode
 * 'L' and `numpy.asarray` as uint8 class ids, with no palette to decode).
 *
 * Bytes are deterministic for a given raster: no text chunks, no timestamps,
 * fixed zlib level, so re-running a merge rewrites the same object.
 */
import { encode } from 'fast-png';
import type { Raster } from '../result.js';

export function encodeClassIndexPng(mask: Raster): Uint8Array {
  return encode({ width: mask.width, height: mask.height, data: mask.data, depth: 8, channels: 1 }, { zlib: { level: 6 } });
}
