/**
 * Image dimensions from the first bytes of a file (JPEG, PNG, GIF, WebP), so
 * a round can give Prodigy's `image_manual` the width and height with one
 * small ranged read instead of downloading the image. Pure: bytes in, result out.
 *
 * Sizes are the ones a browser displays: a JPEG whose EXIF orientation turns
 * it by 90° (orientations 5–8) reports width and height swapped, because
 * browsers apply the orientation and Prodigy's box coordinates live in the
 * displayed image.
 */

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp';

export type ImageSizeResult =
  | { ok: true; format: ImageFormat; width: number; height: number }
  /** The header continues past the given bytes: read at least `needBytes` from the start and try again. */
  | { ok: false; needBytes: number; reason: string }
  | { ok: false; needBytes?: undefined; reason: string };

/** Bytes that hold the size of every PNG, GIF and WebP, and of most JPEGs (EXIF blocks can push SOF further). */
export const IMAGE_HEADER_BYTES = 64 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function ascii(b: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len && at + i < b.length; i++) s += String.fromCharCode(b[at + i]);
  return s;
}

const be16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const le16 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
const be32 = (b: Uint8Array, i: number) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const le24 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);

function sized(format: ImageFormat, width: number, height: number): ImageSizeResult {
  if (!(width > 0 && height > 0)) return { ok: false, reason: `${format} header has a zero width or height` };
  return { ok: true, format, width, height };
}

/** Detects the format from the magic bytes and reads the size; `needBytes` when `bytes` stops too early. */
export function imageSize(bytes: Uint8Array): ImageSizeResult {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xd8) return jpegSize(bytes);
  if (bytes.length >= 8 && PNG_SIGNATURE.every((v, i) => bytes[i] === v)) return pngSize(bytes);
  if (bytes.length >= 6 && (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a')) {
    return bytes.length < 10 ? { ok: false, needBytes: 10, reason: 'GIF header cut short' } : sized('gif', le16(bytes, 6), le16(bytes, 8));
  }
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return webpSize(bytes);
  if (bytes.length < 12) return { ok: false, needBytes: 12, reason: 'too few bytes to recognise an image format' };
  return { ok: false, reason: 'not a JPEG, PNG, GIF or WebP file' };
}

function pngSize(b: Uint8Array): ImageSizeResult {
  if (b.length < 24) return { ok: false, needBytes: 24, reason: 'PNG header cut short' };
  if (ascii(b, 12, 4) !== 'IHDR') return { ok: false, reason: 'PNG does not start with an IHDR chunk' };
  return sized('png', be32(b, 16), be32(b, 20));
}

function webpSize(b: Uint8Array): ImageSizeResult {
  if (b.length < 30) return { ok: false, needBytes: 30, reason: 'WebP header cut short' };
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') return sized('webp', 1 + le24(b, 24), 1 + le24(b, 27));
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return { ok: false, reason: 'WebP VP8L chunk without its signature byte' };
    return sized('webp', 1 + (b[21] | ((b[22] & 0x3f) << 8)), 1 + ((b[22] >> 6) | (b[23] << 2) | ((b[24] & 0x0f) << 10)));
  }
  if (chunk === 'VP8 ') {
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return { ok: false, reason: 'WebP VP8 chunk without its start code' };
    return sized('webp', le16(b, 26) & 0x3fff, le16(b, 28) & 0x3fff);
  }
  return { ok: false, reason: `WebP with an unknown first chunk ${JSON.stringify(chunk)}` };
}

/** SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not. */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function jpegSize(b: Uint8Array): ImageSizeResult {
  let orientation = 1;
  let i = 2;
  for (;;) {
    // Markers may be preceded by any number of 0xFF fill bytes.
    while (i < b.length && b[i] === 0xff && i + 1 < b.length && b[i + 1] === 0xff) i++;
    // Room for the next marker and a whole SOF header, so one more read usually suffices.
    if (i + 4 > b.length) return { ok: false, needBytes: i + 10, reason: 'JPEG ends before its frame header' };
    if (b[i] !== 0xff) return { ok: false, reason: `JPEG marker expected at byte ${i}` };
    const marker = b[i + 1];
    // Standalone markers have no length field.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) return { ok: false, reason: 'JPEG has no frame header (SOF) before its image data' };
    const len = be16(b, i + 2);
    if (len < 2) return { ok: false, reason: `JPEG segment at byte ${i} has an invalid length` };
    if (isSof(marker)) {
      if (i + 9 > b.length) return { ok: false, needBytes: i + 9, reason: 'JPEG frame header cut short' };
      const height = be16(b, i + 5);
      const width = be16(b, i + 7);
      return orientation >= 5 && orientation <= 8 ? sized('jpeg', height, width) : sized('jpeg', width, height);
    }
    if (marker === 0xe1 && i + 2 + len <= b.length) orientation = exifOrientation(b.subarray(i + 4, i + 2 + len)) ?? orientation;
    i += 2 + len;
  }
}

/** Orientation tag (0x0112) of IFD0 in an APP1 "Exif" payload, or null. */
export function exifOrientation(app1: Uint8Array): number | null {
  if (app1.length < 14 || ascii(app1, 0, 6) !== 'Exif\0\0') return null;
  const t = app1.subarray(6);
  const little = ascii(t, 0, 2) === 'II';
  if (!little && ascii(t, 0, 2) !== 'MM') return null;
  const u16 = (at: number) => (little ? le16(t, at) : be16(t, at));
  const u32 = (at: number) => (little ? (t[at] | (t[at + 1] << 8) | (t[at + 2] << 16)) + ((t[at + 3] << 24) >>> 0) : be32(t, at));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd + 2 > t.length) return null;
  const count = u16(ifd);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > t.length) return null;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : null;
    }
  }
  return null;
}
