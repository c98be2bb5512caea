/**
 * Polygons → pixels, by one rule used everywhere (snapshot masks, IoU,
 * native polygon predictions, tests):
 *
 * - Pixel (x, y) is the unit square [x, x+1) × [y, y+1); it belongs to a
 *   polygon when its centre (x + 0.5, y + 0.5) is inside.
 * - Inside means the even-odd rule over all of a polygon's rings. Even-odd
 *   because (1) a hole needs no orientation: reviewers draw rings clockwise or
 *   not, and even-odd gives the same pixels either way; (2) the "keyhole"
 *   polygons trace.ts emits for masks with holes walk each bridge twice, and
 *   under even-odd a doubled edge cancels out wherever it runs; (3) it matches
 *   how pycocotools rasterises COCO polygons (frPoly toggles on boundary
 *   crossings, so overlapping rings cancel there too).
 * - On a scanline, crossings are sorted and paired into half-open spans
 *   [a, b): a centre exactly on a left edge is in, on a right edge out, so
 *   zero-width spans (the doubled bridges) fill nothing and two polygons that
 *   share an edge never both claim a pixel. Edges are half-open in y too
 *   (y0 ≤ yc < y1), so a vertex on a scanline counts once.
 * - Polygons are painted in the order given; a later polygon overwrites
 *   earlier ones where they overlap.
 *
 * Memory: one crossings array per scanline, reused; nothing proportional to
 * the image beyond the output raster the caller owns.
 */

export type Ring = ReadonlyArray<readonly [number, number] | readonly number[]>;

let crossings = new Float64Array(64);

/** Sets `out[y * width + x] = value` for every pixel whose centre is inside `rings` (even-odd). */
export function fillPolygon(rings: readonly Ring[], value: number, out: Uint8Array, width: number, height: number): void {
  let minY = Number.POSITIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  let edges = 0;
  for (const ring of rings) {
    edges += ring.length;
    for (const p of ring) {
      if (p[1] < minY) minY = p[1];
      if (p[1] > maxY) maxY = p[1];
    }
  }
  if (edges < 3) return;
  if (crossings.length < edges) crossings = new Float64Array(Math.max(edges, crossings.length * 2));
  const rowStart = Math.max(0, Math.ceil(minY - 0.5));
  const rowEnd = Math.min(height - 1, Math.ceil(maxY - 0.5) - 1);
  for (let row = rowStart; row <= rowEnd; row++) {
    const yc = row + 0.5;
    let n = 0;
    for (const ring of rings) {
      const m = ring.length;
      for (let i = 0, j = m - 1; i < m; j = i++) {
        // Order the endpoints by y so an edge and its reverse (a doubled bridge) give bit-identical crossings.
        let a = ring[j];
        let b = ring[i];
        if (a[1] > b[1] || (a[1] === b[1] && a[0] > b[0])) [a, b] = [b, a];
        if (a[1] <= yc && yc < b[1]) crossings[n++] = a[0] + ((yc - a[1]) * (b[0] - a[0])) / (b[1] - a[1]);
      }
    }
    if (n < 2) continue;
    const xs = crossings.subarray(0, n).sort();
    const base = row * width;
    for (let k = 0; k + 1 < n; k += 2) {
      // Centres x + 0.5 in [xs[k], xs[k+1]) ⇒ x from ⌈xs[k] − 0.5⌉ to ⌈xs[k+1] − 0.5⌉ − 1.
      const from = Math.max(0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(width, Math.ceil(xs[k + 1] - 0.5));
      for (let x = from; x < to; x++) out[base + x] = value;
    }
  }
}

/** A labelled polygon: its rings (the first is the outline; any others are holes under even-odd). */
export interface LabelledPolygon {
  rings: readonly Ring[];
  /** Class index to paint: 1 + the label's position in `labels`. */
  classIndex: number;
}

/** Paints polygons in order into a fresh class-index raster (0 = background). */
export function rasterizePolygons(polygons: readonly LabelledPolygon[], width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  for (const p of polygons) fillPolygon(p.rings, p.classIndex, out, width, height);
  return out;
}
