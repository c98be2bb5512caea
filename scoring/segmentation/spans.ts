/**
 * Reviewer polygon spans (as `prodigy db-out` returns them from image_manual)
 * → a class-index raster, by the rule in rasterize.ts. Validation names the
 * span and field at fault, so a bad export line can be quarantined precisely.
 */
import { fillPolygon } from './rasterize.js';
import { fail, ok, type SegResult } from './result.js';

export interface SpanPolygon {
  label: string;
  classIndex: number;
  points: [number, number][];
}

/**
 * Reads the polygon spans of one task. Rectangles that Prodigy writes with
 * `points` too (its "rect" tool) are polygons with four points and are read
 * the same way; spans without points are refused, since a segmentation mask
 * cannot be drawn from them.
 */
export function readPolygonSpans(spans: unknown, labels: readonly string[]): SegResult<SpanPolygon[]> {
  if (spans === undefined || spans === null) return ok([]);
  if (!Array.isArray(spans)) return fail('spans', 'expected an array of polygon spans');
  const position = new Map(labels.map((l, i) => [l, i]));
  const out: SpanPolygon[] = [];
  for (let s = 0; s < spans.length; s++) {
    const span = spans[s] as Record<string, unknown> | null;
    const field = `spans[${s}]`;
    if (typeof span !== 'object' || span === null) return fail(field, 'expected an object');
    const label = span.label;
    if (typeof label !== 'string' || !position.has(label)) return fail(`${field}.label`, `${JSON.stringify(label)} is not one of the project labels`);
    const pts = span.points;
    if (!Array.isArray(pts) || pts.length < 3) return fail(`${field}.points`, 'a polygon needs at least 3 points [[x, y], …]');
    const points: [number, number][] = [];
    for (let i = 0; i < pts.length; i++) {
      const p = pts[i];
      if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1]))
        return fail(`${field}.points[${i}]`, 'expected [x, y] as two finite numbers (pixels)');
      points.push([p[0], p[1]]);
    }
    out.push({ label, classIndex: 1 + (position.get(label) as number), points });
  }
  return ok(out);
}

/** Paints polygons in span order (later spans win overlaps) into a fresh raster; 0 = background. */
export function rasterizeSpans(polygons: readonly SpanPolygon[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (const p of polygons) fillPolygon([p.points], p.classIndex, out, width, height);
  return out;
}
