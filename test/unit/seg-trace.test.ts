import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bridgeHoles, fitPolygon } from '../../scoring/segmentation/fit.js';
import type { Raster } from '../../scoring/segmentation/result.js';
import { rasterizeSpans, readPolygonSpans } from '../../scoring/segmentation/spans.js';
import { DEFAULT_TRACE_OPTIONS, type TraceOptions, traceMask } from '../../scoring/segmentation/trace.js';

const labels = ['scratch', 'dent', 'rust'];
const exact: TraceOptions = { maxPoints: 1_000_000, tolerancePx: 1e-9, maxBoundaryEdges: 1e9, maxPolygons: 1e9 };

function trace(mask: Raster, opts: TraceOptions = DEFAULT_TRACE_OPTIONS) {
  const r = traceMask(mask, labels, opts);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function back(spans: unknown, w: number, h: number): Uint8Array {
  const r = readPolygonSpans(spans, labels);
  if (!r.ok) throw new Error(`${r.field}: ${r.reason}`);
  return rasterizeSpans(r.value, w, h);
}

function fromRows(rows: string[]): Raster {
  const w = rows[0].length;
  return { width: w, height: rows.length, data: Uint8Array.from(rows.join(''), (c) => Number(c)) };
}

/** A mask drawn from discs and rectangles, with a ring (a hole) and several regions per class. */
function scene(w: number, h: number): Raster {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - w * 0.3, y - h * 0.4);
      if (d < w * 0.2 && d >= w * 0.08) data[y * w + x] = 1;
      if (Math.hypot(x - w * 0.75, y - h * 0.7) < w * 0.12) data[y * w + x] = 2;
      if (x > w * 0.6 && x < w * 0.9 && y > h * 0.1 && y < h * 0.25) data[y * w + x] = 2;
      if (Math.abs(x - y * 0.5 - w * 0.05) < 1.2 && y > h * 0.6) data[y * w + x] = 3;
    }
  }
  return { width: w, height: h, data };
}

describe('tracing → Prodigy polygon spans', () => {
  it('spans have the image_manual shape: type polygon, label, open ring of [x, y]', () => {
    const { spans } = trace(fromRows(['0000', '0110', '0110', '0000']));
    expect(spans).toEqual([{ type: 'polygon', label: 'scratch', points: expect.any(Array) }]);
    const pts = spans[0].points;
    expect(pts.length).toBeGreaterThanOrEqual(3);
    expect(pts[0]).not.toEqual(pts[pts.length - 1]);
    // Outline vertices sit halfway between inside and outside centres: within 1 … 3 on both axes.
    for (const [x, y] of pts) expect([x >= 1 && x <= 3, y >= 1 && y <= 3]).toEqual([true, true]);
  });
  it('several regions of one class → one span each, ordered by class then position', () => {
    const { spans } = trace(fromRows(['1001', '0000', '2002']));
    expect(spans.map((s) => s.label)).toEqual(['scratch', 'scratch', 'dent', 'dent']);
  });
  it('a ring-shaped region is one keyhole polygon that rasterises back with its hole', () => {
    const m = fromRows(['11111', '10001', '10201', '10001', '11111']);
    const { spans } = trace(m, exact);
    expect(spans.filter((s) => s.label === 'scratch')).toHaveLength(1);
    expect([...back(spans, 5, 5)]).toEqual([...m.data]);
  });
  it('unsimplified tracing round-trips random masks exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 144, maxLength: 144 }),
        (w, h, cells) => {
          const m: Raster = { width: w, height: h, data: Uint8Array.from(cells.slice(0, w * h)) };
          expect([...back(trace(m, exact).spans, w, h)]).toEqual([...m.data]);
        },
      ),
      { numRuns: 300 },
    );
  });
  it('a 200×160 scene round-trips exactly unsimplified, and within the tolerance simplified', () => {
    const m = scene(200, 160);
    expect(Buffer.from(back(trace(m, exact).spans, 200, 160)).equals(Buffer.from(m.data))).toBe(true);
    const simplified = trace(m);
    const got = back(simplified.spans, 200, 160);
    // Every changed pixel lies within ⌈tolerance + 0.5⌉ pixels (Chebyshev) of a pixel of another class.
    const reach = Math.ceil(simplified.maxTolerancePx + 0.5);
    let changed = 0;
    for (let y = 0; y < 160; y++) {
      for (let x = 0; x < 200; x++) {
        const i = y * 200 + x;
        if (got[i] === m.data[i]) continue;
        changed++;
        let near = false;
        for (let dy = -reach; dy <= reach && !near; dy++) {
          for (let dx = -reach; dx <= reach && !near; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy >= 0 && yy < 160 && xx >= 0 && xx < 200 && m.data[yy * 200 + xx] !== m.data[i]) near = true;
          }
        }
        expect(near, `pixel (${x}, ${y})`).toBe(true);
      }
    }
    expect(changed / m.data.length).toBeLessThan(0.01);
    expect(simplified.spans.every((s) => s.points.length <= 200)).toBe(true);
  });
  it('caps points per polygon by raising the tolerance', () => {
    const m = scene(400, 320);
    for (const maxPoints of [12, 40]) {
      const r = trace(m, { ...DEFAULT_TRACE_OPTIONS, maxPoints });
      expect(Math.max(...r.spans.map((s) => s.points.length))).toBeLessThanOrEqual(maxPoints);
      expect(r.maxTolerancePx).toBeGreaterThan(DEFAULT_TRACE_OPTIONS.tolerancePx);
    }
  });
  it('same mask → same spans (deterministic task bytes)', () => {
    const m = scene(120, 90);
    expect(JSON.stringify(trace(m).spans)).toBe(JSON.stringify(trace({ ...m, data: m.data.slice() }).spans));
  });
  it('a noise mask over the boundary budget is a reject, not a memory blow-up', () => {
    const w = 64;
    const data = Uint8Array.from({ length: w * w }, (_, i) => ((i % w) + Math.floor(i / w)) % 2);
    const r = traceMask({ width: w, height: w, data }, labels, { ...DEFAULT_TRACE_OPTIONS, maxBoundaryEdges: 1000 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.field, /8064 boundary pixel edges, above the 1000/.test(r.reason)]).toEqual(['mask', true]);
  });
  it('keeps the largest regions when over maxPolygons', () => {
    const r = trace(fromRows(['1101', '1100', '0001']), { ...DEFAULT_TRACE_OPTIONS, maxPolygons: 1 });
    expect(r.polygonsDropped).toBe(2);
    expect([...back(r.spans, 4, 3)]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
  });
});

describe('fitting one region', () => {
  const square = (x0: number, y0: number, s: number): [number, number][] => [
    [x0, y0],
    [x0 + s, y0],
    [x0 + s, y0 + s],
    [x0, y0 + s],
  ];
  it('bridges each hole from its nearest vertex: 4 + (4 + 2) points', () => {
    const pts = bridgeHoles(square(0, 0, 10), [square(6, 6, 2)]);
    expect(pts).toEqual([
      [0, 0],
      [10, 0],
      [10, 10],
      [8, 8],
      [6, 8],
      [6, 6],
      [8, 6],
      [8, 8],
      [10, 10],
      [0, 10],
    ]);
  });
  it('too many holes for the cap: the smallest are filled in', () => {
    const holes = [square(2, 2, 1), square(10, 10, 4), square(20, 20, 2)];
    const f = fitPolygon([square(0, 0, 40), ...holes], 4 + 6 + 6, 0.4);
    expect(f.holesDropped).toBe(1);
    expect(f.points.length).toBe(16);
    expect(f.points).not.toContainEqual([2, 2]);
  });
  it('refuses a cap below 4', () => {
    expect(() => fitPolygon([square(0, 0, 4)], 3, 0.4)).toThrow(RangeError);
  });
});
