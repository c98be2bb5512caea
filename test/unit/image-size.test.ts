import { describe, expect, it } from 'vitest';
import { exifOrientation, imageSize } from '../../scoring/image-size.js';
import { exifWithOrientation, makeJpeg, makePng } from '../helpers/images.js';

describe('imageSize on real bytes', () => {
  it.each([
    [1, 1],
    [17, 9],
    [640, 3],
    [3, 480],
  ])('JPEG %ix%i', (w, h) => {
    expect(imageSize(makeJpeg(w, h))).toEqual({ ok: true, format: 'jpeg', width: w, height: h });
  });

  it.each([
    [1, 1],
    [33, 7],
    [1000, 2],
  ])('PNG %ix%i', (w, h) => {
    expect(imageSize(makePng(w, h))).toEqual({ ok: true, format: 'png', width: w, height: h });
  });

  it('swaps width and height for EXIF orientations that turn the image by 90°', () => {
    for (const [o, swapped] of [
      [1, false],
      [3, false],
      [5, true],
      [6, true],
      [8, true],
    ] as const) {
      for (const little of [false, true]) {
        const bytes = makeJpeg(40, 10, { exif: exifWithOrientation(o, little) });
        expect(exifOrientation(exifWithOrientation(o, little))).toBe(o);
        expect(imageSize(bytes)).toMatchObject(swapped ? { width: 10, height: 40 } : { width: 40, height: 10 });
      }
    }
  });

  it('finds the frame header after a large APP segment and asks for more bytes when cut before it', () => {
    const base = makeJpeg(21, 12);
    const app2 = Buffer.alloc(4 + 5000);
    app2.set([0xff, 0xe2, (5002 >> 8) & 0xff, 5002 & 0xff]);
    const big = Buffer.concat([base.subarray(0, 2), app2, base.subarray(2)]);
    expect(imageSize(big)).toMatchObject({ ok: true, width: 21, height: 12 });
    const cut = imageSize(big.subarray(0, 1000));
    expect(cut.ok).toBe(false);
    expect(!cut.ok && cut.needBytes).toBeGreaterThan(5000);
    // The caller's protocol: read at least needBytes (doubling) and ask again, until a size or a final reason.
    let r = cut;
    let have = 1000;
    let reads = 0;
    while (!r.ok && r.needBytes !== undefined && reads++ < 10) {
      have = Math.max(r.needBytes, 2 * have);
      r = imageSize(big.subarray(0, have));
    }
    expect(r).toMatchObject({ ok: true, width: 21, height: 12 });
    expect(reads).toBeLessThanOrEqual(2);
  });

  it('reads only the header: a PNG cut after IHDR still has its size', () => {
    expect(imageSize(makePng(300, 200).subarray(0, 24))).toMatchObject({ ok: true, width: 300, height: 200 });
    expect(imageSize(makePng(300, 200).subarray(0, 20))).toMatchObject({ ok: false, needBytes: 24 });
  });

  it('GIF and WebP headers', () => {
    const gif = Buffer.from('GIF89a\x2c\x01\x0a\x00', 'binary');
    expect(imageSize(gif)).toEqual({ ok: true, format: 'gif', width: 300, height: 10 });
    const vp8x = Buffer.alloc(30);
    vp8x.write('RIFF', 0, 'ascii');
    vp8x.write('WEBP', 8, 'ascii');
    vp8x.write('VP8X', 12, 'ascii');
    vp8x.writeUIntLE(1919, 24, 3);
    vp8x.writeUIntLE(1079, 27, 3);
    expect(imageSize(vp8x)).toEqual({ ok: true, format: 'webp', width: 1920, height: 1080 });
    const vp8 = Buffer.alloc(30);
    vp8.write('RIFF', 0, 'ascii');
    vp8.write('WEBP', 8, 'ascii');
    vp8.write('VP8 ', 12, 'ascii');
    vp8.set([0x9d, 0x01, 0x2a], 23);
    vp8.writeUInt16LE(640, 26);
    vp8.writeUInt16LE(480, 28);
    expect(imageSize(vp8)).toEqual({ ok: true, format: 'webp', width: 640, height: 480 });
    const vp8l = Buffer.alloc(30);
    vp8l.write('RIFF', 0, 'ascii');
    vp8l.write('WEBP', 8, 'ascii');
    vp8l.write('VP8L', 12, 'ascii');
    // 14-bit width-1 = 99, 14-bit height-1 = 49, packed little-endian from byte 21.
    const bits = 99 | (49 << 14);
    vp8l[20] = 0x2f;
    vp8l.writeUInt32LE(bits, 21);
    expect(imageSize(vp8l)).toEqual({ ok: true, format: 'webp', width: 100, height: 50 });
  });

  it('says why when it cannot', () => {
    expect(imageSize(Buffer.from('hello, this is plain text'))).toEqual({ ok: false, reason: 'not a JPEG, PNG, GIF or WebP file' });
    expect(imageSize(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]))).toMatchObject({ ok: false, reason: expect.stringContaining('no frame header') });
    const zero = makePng(5, 5);
    zero.writeUInt32BE(0, 16);
    expect(imageSize(zero)).toMatchObject({ ok: false, reason: expect.stringContaining('zero width') });
  });
});
