/**
 * Class-index raster → Prodigy `image_manual` polygon spans, one per
 * connected region of each class, in pixel coordinates.
 *
 * Tracing is d3-contour's marching squares on the pixel centres of a 0/1
 * raster (smoothing off), so outline vertices sit halfway between a pixel
 * centre inside and one outside: every centre is strictly on its own side,
 * and rasterising the unsimplified outlines by the rule in rasterize.ts gives
 * back the mask exactly. Simplification (fit.ts) then moves the outline by at
 * most the tolerance it reports.
 *
 * Memory: one class at a time, each traced inside its bounding box, with one
 * reusable 0/1 scratch raster; before tracing, the class boundaries are
 * counted and a mask with more boundary edges than `maxBoundaryEdges` is
 * refused (salt-and-pepper noise would make millions of rings, far beyond
 * what a reviewer could edit, and each ring vertex costs a JS array).
 */
import { contours } from 'd3-contour';
import { fitPolygon } from './fit.js';
import { fail, ok, type Raster, type SegResult } from './result.js';
import type { Pt } from './simplify-ring.js';

export interface PolygonSpan {
  type: 'polygon';
  label: string;
  points: Pt[];
}

export interface TraceOptions {
  /** Cap on vertices per polygon (Prodigy renders and edits each vertex). */
  maxPoints: number;
  /** Starting simplification tolerance, pixels. */
  tolerancePx: number;
  /** Refuse masks whose class boundaries exceed this many pixel edges. */
  maxBoundaryEdges: number;
  /** Keep at most this many regions per image, the largest by area. */
  maxPolygons: number;
}

export const DEFAULT_TRACE_OPTIONS: Readonly<TraceOptions> = Object.freeze({
  maxPoints: 200,
  tolerancePx: 0.4,
  maxBoundaryEdges: 2_000_000,
  maxPolygons: 1000,
});

export interface TraceResult {
  spans: PolygonSpan[];
  /** Largest tolerance any polygon needed, pixels. */
  maxTolerancePx: number;
  holesDropped: number;
  polygonsDropped: number;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** One pass: per-class bounding boxes and the number of pixel edges between different classes. */
function survey(mask: Raster, labelCount: number): { boxes: (Box | null)[]; edges: number } {
  const { width: w, height: h, data } = mask;
  const boxes: (Box | null)[] = new Array(labelCount + 1).fill(null);
  let edges = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const c = data[row + x];
      if (x + 1 < w && data[row + x + 1] !== c) edges++;
      if (y + 1 < h && data[row + w + x] !== c) edges++;
      if (c === 0) continue;
      const b = boxes[c];
      if (b === null) boxes[c] = { x0: x, y0: y, x1: x, y1: y };
      else {
        if (x < b.x0) b.x0 = x;
        if (x > b.x1) b.x1 = x;
        b.y1 = y;
      }
    }
  }
  return { boxes, edges };
}

/** Pixel edges between different classes: what the tracing budget limits (ring vertices grow with it). */
export function boundaryEdges(mask: Raster): number {
  const { width: w, height: h, data } = mask;
  let edges = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const c = data[row + x];
      if (x + 1 < w && data[row + x + 1] !== c) edges++;
      if (y + 1 < h && data[row + w + x] !== c) edges++;
    }
  }
  return edges;
}

let scratch = new Uint8Array(0);

interface Region {
  classIndex: number;
  rings: Pt[][];
  area: number;
}

/** Regions of one class as open rings in image coordinates; holes follow their outline. */
function regionsOf(mask: Raster, c: number, b: Box): Region[] {
  const bw = b.x1 - b.x0 + 1;
  const bh = b.y1 - b.y0 + 1;
  if (scratch.length < bw * bh) scratch = new Uint8Array(bw * bh);
  const bin = scratch.subarray(0, bw * bh);
  for (let y = 0; y < bh; y++) {
    const src = (b.y0 + y) * mask.width + b.x0;
    for (let x = 0; x < bw; x++) bin[y * bw + x] = mask.data[src + x] === c ? 1 : 0;
  }
  // d3-contour indexes `values[i]` only, so a typed array serves where its types say number[].
  const shape = contours()
    .size([bw, bh])
    .smooth(false)
    .contour(bin as unknown as number[], 0.5);
  return shape.coordinates.map((polygon) => {
    const rings = polygon.map((ring) => ring.slice(0, -1).map((p) => [p[0] + b.x0, p[1] + b.y0] as Pt));
    return { classIndex: c, rings, area: ringArea(rings[0]) };
  });
}

function ringArea(ring: Pt[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  return Math.abs(a) / 2;
}

/**
 * Spans are ordered by class index, then by d3's scan order (top to bottom),
 * so the same mask always yields the same task bytes.
 */
export function traceMask(mask: Raster, labels: readonly string[], options: TraceOptions = DEFAULT_TRACE_OPTIONS): SegResult<TraceResult> {
  const { boxes, edges } = survey(mask, labels.length);
  if (edges > options.maxBoundaryEdges) {
    return fail(
      'mask',
      `mask has ${edges} boundary pixel edges, above the ${options.maxBoundaryEdges} that can be traced into editable polygons (is it noise?)`,
    );
  }
  let regions: Region[] = [];
  for (let c = 1; c <= labels.length; c++) {
    const b = boxes[c];
    if (b) regions = regions.concat(regionsOf(mask, c, b));
  }
  let polygonsDropped = 0;
  if (regions.length > options.maxPolygons) {
    const keep = new Set([...regions].sort((a, b) => b.area - a.area).slice(0, options.maxPolygons));
    polygonsDropped = regions.length - keep.size;
    regions = regions.filter((r) => keep.has(r));
  }
  const spans: PolygonSpan[] = [];
  let maxTolerancePx = 0;
  let holesDropped = 0;
  for (const r of regions) {
    const fitted = fitPolygon(r.rings, options.maxPoints, options.tolerancePx);
    if (fitted.tolerancePx > maxTolerancePx) maxTolerancePx = fitted.tolerancePx;
    holesDropped += fitted.holesDropped;
    spans.push({ type: 'polygon', label: labels[r.classIndex - 1], points: fitted.points });
  }
  return ok({ spans, maxTolerancePx, holesDropped, polygonsDropped });
}
