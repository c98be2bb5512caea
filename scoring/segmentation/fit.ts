/**
 * One traced region (an outline and its holes) → one Prodigy polygon of at
 * most `maxPoints` vertices.
 *
 * Holes. Prodigy polygons are a single ring, so each hole is joined to the
 * outline by a "keyhole" bridge: the ring runs from its nearest outline
 * vertex to the hole, around the hole, and back along the same segment. In
 * Prodigy the region shows as one outline with a thin slit into each hole;
 * rasterised back with the even-odd rule (rasterize.ts), the bridge's two
 * coincident edges cancel and cover no pixel, so the hole stays empty. A
 * bridge costs two points (the repeated hole and outline vertices).
 *
 * Point cap. The simplification tolerance starts at `tolerancePx` and grows
 * by ×1.5 until the polygon fits; past `HOLE_TOLERANCE_CAP_PX` it stops
 * growing for the holes' sake and the smallest holes (by area) are dropped
 * instead (filled in) until it fits; an outline that alone is still too long
 * keeps growing the tolerance. The tolerance used is returned, so callers can
 * report how far a polygon may sit from the mask.
 */
import { doubleArea, type Pt, simplifyRing } from './simplify-ring.js';

/** Above this tolerance, fitting under the cap fills holes rather than blurring outlines further. */
export const HOLE_TOLERANCE_CAP_PX = 16;
const GROWTH = 1.5;

export interface FittedPolygon {
  points: Pt[];
  /** The simplification tolerance that made it fit, in pixels. */
  tolerancePx: number;
  /** Holes filled in to meet the cap (too thin for the tolerance, or the smallest when too many). */
  holesDropped: number;
}

function pointCount(outer: Pt[], holes: Pt[][]): number {
  let n = outer.length;
  for (const h of holes) n += h.length + 2;
  return n;
}

function simplifyHoles(holes: readonly Pt[][], t: number): Pt[][] {
  const out: Pt[][] = [];
  for (const h of holes) {
    const s = simplifyRing(h, t, false);
    if (s.length >= 3 && doubleArea(s) !== 0) out.push(s);
  }
  return out;
}

/** Joins each hole to the ring through the closest pair of vertices (see the file comment). */
export function bridgeHoles(outer: readonly Pt[], holes: readonly Pt[][]): Pt[] {
  let ring = outer.slice();
  for (const hole of holes) {
    let bi = 0;
    let bj = 0;
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < ring.length; j++) {
      for (let i = 0; i < hole.length; i++) {
        const dx = ring[j][0] - hole[i][0];
        const dy = ring[j][1] - hole[i][1];
        const d = dx * dx + dy * dy;
        if (d < best) {
          best = d;
          bi = i;
          bj = j;
        }
      }
    }
    const loop = hole.slice(bi).concat(hole.slice(0, bi), [hole[bi]]);
    ring = ring.slice(0, bj + 1).concat(loop, [ring[bj]], ring.slice(bj + 1));
  }
  return ring;
}

/** `rings[0]` is the outline, the rest are holes; rings are open (first vertex not repeated). */
export function fitPolygon(rings: readonly Pt[][], maxPoints: number, tolerancePx: number): FittedPolygon {
  if (maxPoints < 4) throw new RangeError(`maxPoints must be at least 4, got ${maxPoints}`);
  const [outline, ...allHoles] = rings;
  let t = tolerancePx;
  let outer = simplifyRing(outline, t, true);
  let holes = simplifyHoles(allHoles, t);
  while (pointCount(outer, holes) > maxPoints && t < HOLE_TOLERANCE_CAP_PX) {
    t *= GROWTH;
    outer = simplifyRing(outline, t, true);
    holes = simplifyHoles(allHoles, t);
  }
  let kept = holes.length;
  if (pointCount(outer, holes) > maxPoints) {
    // Drop the smallest holes first: they change the fewest pixels when filled in.
    holes.sort((a, b) => Math.abs(doubleArea(b)) - Math.abs(doubleArea(a)));
    while (holes.length > 0 && pointCount(outer, holes) > maxPoints) holes.pop();
    kept = holes.length;
    while (outer.length > maxPoints) {
      t *= GROWTH;
      outer = simplifyRing(outline, t, true);
    }
  }
  return { points: bridgeHoles(outer, holes), tolerancePx: t, holesDropped: allHoles.length - kept };
}
