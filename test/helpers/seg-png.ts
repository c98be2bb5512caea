/**
 * PNG builders for segmentation tests. `rawPng` assembles chunks by hand
 * (zlib from node:zlib, CRC-32 from its definition), so tests can make PNGs
 * that fast-png's encoder would never write: palettes shorter than the
 * indices used, bad CRCs, truncated data.
 */
import { deflateSync } from 'node:zlib';
import { encode } from 'fast-png';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const body = Buffer.concat([head.subarray(4), Buffer.from(data)]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body), 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

export interface RawPngSpec {
  width: number;
  height: number;
  depth: number;
  /** PNG colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: number;
  /** Unfiltered scanlines without the filter byte, already packed. */
  rows: Uint8Array[];
  palette?: [number, number, number][];
}

export function rawPng(spec: RawPngSpec): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.depth;
  ihdr[9] = spec.colorType;
  const raw = Buffer.concat(spec.rows.flatMap((r) => [Buffer.from([0]), Buffer.from(r)]));
  const parts = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (spec.palette) parts.push(chunk('PLTE', Uint8Array.from(spec.palette.flat())));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts));
}

/** 8-bit PNG via fast-png, `channels` samples per pixel. */
export function png8(width: number, height: number, channels: number, data: Uint8Array): Uint8Array {
  return encode({ width, height, channels, depth: 8, data });
}

/** An RGB category mask from a class raster and a colour per class (class 0 = black). */
export function rgbMask(width: number, height: number, classes: ArrayLike<number>, colors: Record<number, [number, number, number]>): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const c = colors[classes[i]] ?? [0, 0, 0];
    data.set(c, i * 3);
  }
  return png8(width, height, 3, data);
}

export function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}
