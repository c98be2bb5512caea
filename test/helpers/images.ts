/**
 * Real image bytes for tests: baseline JPEGs from the pure-JS jpeg-js encoder
 * and PNGs written chunk by chunk (zlib + CRC32), so size parsing and
 * cold-start rounds run on files a browser would open.
 */
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';

function pixels(width: number, height: number, seed: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = (i * 7 + seed * 31) & 0xff;
    data[4 * i + 1] = (i * 13 + seed) & 0xff;
    data[4 * i + 2] = (seed * 17) & 0xff;
    data[4 * i + 3] = 0xff;
  }
  return data;
}

const jpegCache = new Map<string, Buffer>();

/**
 * A baseline JPEG; `exif` is an APP1 payload starting with "Exif\0\0" (see {@link exifWithOrientation}).
 * Memoised: jpeg-js builds its Huffman tables on every call (~0.1 s), so tests reuse a few sizes.
 */
export function makeJpeg(width: number, height: number, opts: { seed?: number; exif?: Buffer } = {}): Buffer {
  const key = `${width}x${height}:${opts.seed ?? 0}:${opts.exif?.toString('hex') ?? ''}`;
  let bytes = jpegCache.get(key);
  if (!bytes) {
    const enc = jpeg.encode({ data: pixels(width, height, opts.seed ?? 0), width, height, exifBuffer: opts.exif } as jpeg.RawImageData<Buffer>, 80);
    jpegCache.set(key, (bytes = Buffer.from(enc.data)));
  }
  return bytes;
}

function chunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

/** An 8-bit RGB PNG. */
export function makePng(width: number, height: number, seed = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set([(x * 9 + seed) & 0xff, (y * 5) & 0xff, (seed * 3) & 0xff], y * (1 + width * 3) + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** An APP1 Exif payload whose IFD0 holds only the orientation tag, in either byte order. */
export function exifWithOrientation(orientation: number, little = false): Buffer {
  const t = Buffer.alloc(8 + 2 + 12 + 4);
  const w16 = (v: number, at: number) => (little ? t.writeUInt16LE(v, at) : t.writeUInt16BE(v, at));
  const w32 = (v: number, at: number) => (little ? t.writeUInt32LE(v, at) : t.writeUInt32BE(v, at));
  t.write(little ? 'II' : 'MM', 0, 'ascii');
  w16(42, 2);
  w32(8, 4);
  w16(1, 8);
  w16(0x0112, 10);
  w16(3, 12);
  w32(1, 14);
  w16(orientation, 18);
  return Buffer.concat([Buffer.from('Exif\0\0', 'binary'), t]);
}
