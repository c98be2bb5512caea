import { readFileSync } from 'node:fs';
import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { decodeBase64 } from '../../scoring/segmentation/png/base64.js';
import { buildColorTable, parseHexColor } from '../../scoring/segmentation/png/colors.js';
import {
  categoryMaskFromBase64,
  categoryMaskFromPng,
  classIndexMaskFromPng,
  confidenceMaskFromBase64,
  confidenceMaskFromPng,
} from '../../scoring/segmentation/png/decode.js';
import { b64, png8, rawPng, rgbMask } from '../helpers/seg-png.js';

const FIX = new URL('../fixtures/segmentation/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, FIX)));
const expected = JSON.parse(readFileSync(new URL('pngs.json', FIX), 'utf8')) as { classes: number[][]; confidence: number[][] };
const classesFlat = Uint8Array.from(expected.classes.flat());
const labels = ['scratch', 'dent'];
const table = (() => {
  const t = buildColorTable({ scratch: '#ff0000', dent: '#00ff00' }, labels);
  if (!t.ok) throw new Error(t.reason);
  return t.value;
})();

function value<T>(r: { ok: true; value: T } | { ok: false; field: string; reason: string }): T {
  if (!r.ok) throw new Error(`${r.field}: ${r.reason}`);
  return r.value;
}

describe('base64', () => {
  it('decodes standard, URL-safe and MIME-wrapped text to the same bytes', () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0x00, 0x10, 0x83]);
    const std = Buffer.from(bytes).toString('base64');
    const url = Buffer.from(bytes).toString('base64url');
    expect(std).toContain('+');
    for (const s of [std, url, `${std.slice(0, 4)}\n${std.slice(4)}`]) expect([...value(decodeBase64(s, 'f'))]).toEqual([...bytes]);
  });
  it.each([
    ['not base64 at all!', /character " " at offset 3/],
    ['abc$def=', /character "\$" at offset 3/],
    ['abcde', /length or padding/],
    ['', /empty/],
  ])('rejects %j with a reason', (s, reason) => {
    const r = decodeBase64(s, 'prediction.categoryMask');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe('prediction.categoryMask');
      expect(r.reason).toMatch(reason);
    }
  });
  it('rejects a non-string', () => {
    const r = decodeBase64(42, 'f');
    expect(r.ok ? '' : r.reason).toMatch(/got number/);
  });
});

describe('colour table', () => {
  it('parses #rrggbb only', () => {
    expect(parseHexColor('#FF0080')).toBe(0xff0080);
    expect(parseHexColor('#f00')).toBeNull();
    expect(parseHexColor('ff0000')).toBeNull();
  });
  it.each([
    [{ scratch: '#ff0000', dent: '#ff0000' }, 'segmentation.colors.dent', /already the colour of "scratch"/],
    [{ scratch: '#000000', dent: '#00ff00' }, 'segmentation.colors.scratch', /background/],
    [{ scratch: '#ff0000' }, 'segmentation.colors.dent', /has no colour/],
    [{ scratch: '#ff0000', dent: '#00ff00', rust: '#0000ff' }, 'segmentation.colors.rust', /not in labels/],
    [{ scratch: 'red', dent: '#00ff00' }, 'segmentation.colors.scratch', /not a colour/],
  ])('refuses %j', (colors, field, reason) => {
    const r = buildColorTable(colors as Record<string, string>, labels);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe(field);
      expect(r.reason).toMatch(reason);
    }
  });
});

describe('category masks written by Pillow', () => {
  it.each(['category-rgb.png', 'category-rgba.png', 'category-palette.png', 'category-palette-4bit.png'])('%s → class indices', (name) => {
    const m = value(categoryMaskFromPng(fixture(name), 'prediction.categoryMask', table));
    expect([m.width, m.height]).toEqual([9, 6]);
    expect([...m.data]).toEqual([...classesFlat]);
  });
  it('a fully transparent pixel is background whatever its colour (RGBA fixture, pixel (8, 0))', () => {
    const m = value(categoryMaskFromPng(fixture('category-rgba.png'), 'f', table));
    expect(m.data[8]).toBe(0);
  });
  it('16-bit grey and 1-bit grey colours are scaled to 8 bits before lookup', () => {
    const white = buildColorTable({ scratch: '#ffffff', dent: '#00ff00' }, labels);
    const m = value(categoryMaskFromPng(fixture('binary-1bit.png'), 'f', value(white)));
    expect([...m.data]).toEqual([...classesFlat].map((c) => (c > 0 ? 1 : 0)));
    const grey = value(buildColorTable({ scratch: '#010101', dent: '#020202' }, labels));
    // grey16.png holds raw values 0, 1, 2 at 16 bits: scaled to 8 bits they round to 0 → all background.
    expect(value(categoryMaskFromPng(fixture('grey16.png'), 'f', grey)).data.every((v) => v === 0)).toBe(true);
  });
  it('16-bit RGB: 0xffff → 255', () => {
    const data = new Uint16Array([0xffff, 0, 0, 0, 0, 0]);
    const png = encode({ width: 2, height: 1, channels: 3, depth: 16, data });
    expect([...value(categoryMaskFromPng(png, 'f', table)).data]).toEqual([1, 0]);
  });
  it('a colour no label has is a reject naming the colour and pixel', () => {
    const png = rgbMask(3, 2, [0, 1, 0, 0, 0, 3], { 1: [255, 0, 0], 3: [0, 0, 255] });
    const r = categoryMaskFromBase64(b64(png), 'prediction.categoryMask', table);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.field).toBe('prediction.categoryMask');
      expect(r.reason).toMatch(/#0000ff at pixel \(2, 1\).*matches no label/);
    }
  });
  it('a palette index beyond the palette is a reject', () => {
    const png = rawPng({
      width: 2,
      height: 1,
      depth: 8,
      colorType: 3,
      rows: [Uint8Array.from([0, 5])],
      palette: [
        [0, 0, 0],
        [255, 0, 0],
      ],
    });
    const r = categoryMaskFromPng(png, 'f', table);
    expect(r.ok ? '' : r.reason).toMatch(/palette entry 5/);
  });
  it('size mismatch against the image is a reject with both sizes', () => {
    const r = categoryMaskFromPng(fixture('category-rgb.png'), 'prediction.categoryMask', table, { width: 10, height: 6 });
    expect(r.ok ? '' : r.reason).toBe('mask is 9x6 but the image is 10x6');
  });
});

describe('corrupt PNGs are rejects, not crashes', () => {
  const good = fixture('category-rgb.png');
  it('missing signature', () => {
    const r = categoryMaskFromPng(Uint8Array.from(Buffer.from('GIF89a not a png at all, padding padding')), 'f', table);
    expect(r.ok ? '' : r.reason).toMatch(/corrupt PNG: missing PNG signature/);
  });
  it('a flipped byte in IDAT fails the CRC', () => {
    const bad = good.slice();
    bad[bad.length - 20] ^= 0xff;
    const r = categoryMaskFromPng(bad, 'f', table);
    expect(r.ok ? '' : r.reason).toMatch(/^corrupt PNG/);
  });
  it('truncated file', () => {
    const r = categoryMaskFromPng(good.subarray(0, 50), 'f', table);
    expect(r.ok ? '' : r.reason).toMatch(/^corrupt PNG/);
  });
  it('a header claiming a huge image is refused before inflating', () => {
    const bomb = good.slice();
    new DataView(bomb.buffer).setUint32(16, 100_000);
    new DataView(bomb.buffer).setUint32(20, 100_000);
    const r = categoryMaskFromPng(bomb, 'f', table);
    expect(r.ok ? '' : r.reason).toMatch(/100000x100000 .* above the limit/);
  });
  it('base64 of garbage bytes is a corrupt-PNG reject on the same field', () => {
    const r = confidenceMaskFromBase64(b64(Uint8Array.from({ length: 64 }, (_, i) => i)), 'prediction.confidenceMask');
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.field, r.reason.startsWith('corrupt PNG')]).toEqual(['prediction.confidenceMask', true]);
  });
});

describe('class-index masks', () => {
  it.each(['class-index-l.png', 'grey16.png', 'category-palette.png'])('%s: grey values / palette indices are the classes', (name) => {
    expect([...value(classIndexMaskFromPng(fixture(name), 'mask', 2)).data]).toEqual([...classesFlat]);
  });
  it('an index above the label count is a reject', () => {
    const r = classIndexMaskFromPng(fixture('class-index-l.png'), 'mask', 1);
    expect(r.ok ? '' : r.reason).toMatch(/class index 2 at pixel \(5, 3\) is above the 1 labels/);
  });
  it('RGB is not a class-index mask', () => {
    const r = classIndexMaskFromPng(fixture('category-rgb.png'), 'mask', 2);
    expect(r.ok ? '' : r.reason).toMatch(/grey or palette, got RGB at 8 bits/);
  });
});

describe('confidence masks', () => {
  it('8-bit grey bytes are kept as they are (confidence = byte / 255)', () => {
    const c = value(confidenceMaskFromPng(fixture('confidence-l.png'), 'prediction.confidenceMask'));
    expect([...c.data]).toEqual(expected.confidence.flat());
  });
  it.each([
    ['RGB', png8(2, 1, 3, new Uint8Array(6)), /RGB at 8 bits/],
    ['16-bit grey', fixture('grey16.png'), /grey at 16 bits/],
    ['palette', fixture('category-palette.png'), /palette at 2 bits/],
  ])('%s is refused with the format it is', (_n, png, reason) => {
    const r = confidenceMaskFromPng(png, 'prediction.confidenceMask');
    expect(r.ok ? '' : r.reason).toMatch(reason);
  });
  it('size must match', () => {
    const r = confidenceMaskFromPng(fixture('confidence-l.png'), 'f', { width: 9, height: 7 });
    expect(r.ok ? '' : r.reason).toBe('mask is 9x6 but the image is 9x7');
  });
});
