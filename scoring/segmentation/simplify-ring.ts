/**
 * Closed-ring simplification on top of simplify-js (Ramer–Douglas–Peucker,
 * "high quality" mode, so no radial pre-pass). RDP on a closed ring whose
 * first and last points coincide measures distances to a zero-length chord,
 * which keeps poor points; splitting the ring at its first vertex and the
 * vertex farthest from it gives two open chains with real chords.
 *
 * Guarantee (RDP's): every dropped vertex lies within `tolerancePx` of the
 * simplified outline, so the outline moves by at most the tolerance.
 */
import simplify from 'simplify-js';

export type Pt = [number, number];

function sqDist(a: Pt, b: Pt): number {
  const dx = a[0] - b[0];
  const dy = a[1] - b[1];
  return dx * dx + dy * dy;
}

function sqSegDist(p: Pt, a: Pt, b: Pt): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  const t = len === 0 ? 0 : Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len));
  return sqDist(p, [a[0] + t * dx, a[1] + t * dy]);
}

function chain(ring: readonly Pt[], from: number, to: number, tolerancePx: number): Pt[] {
  const pts: { x: number; y: number }[] = [];
  for (let i = from; ; i = (i + 1) % ring.length) {
    pts.push({ x: ring[i][0], y: ring[i][1] });
    if (i === to) break;
  }
  return simplify(pts, tolerancePx, true).map((p) => [p.x, p.y] as Pt);
}

/**
 * Simplifies an open ring (first vertex not repeated at the end). With
 * `keepThree`, a ring that collapses to its two anchors gets back the vertex
 * farthest from their chord, so an outline never vanishes; holes pass false
 * and are dropped by the caller when they collapse (they are then thinner
 * than the tolerance).
 */
export function simplifyRing(ring: readonly Pt[], tolerancePx: number, keepThree: boolean): Pt[] {
  const n = ring.length;
  if (n <= 3) return ring.slice();
  let far = 1;
  for (let i = 2; i < n; i++) if (sqDist(ring[i], ring[0]) > sqDist(ring[far], ring[0])) far = i;
  const first = chain(ring, 0, far, tolerancePx);
  const second = chain(ring, far, 0, tolerancePx);
  const out = first.concat(second.slice(1, -1));
  if (out.length >= 3 || !keepThree) return out;
  let apex = -1;
  let best = -1;
  for (let i = 1; i < n; i++) {
    if (i === far) continue;
    const d = sqSegDist(ring[i], ring[0], ring[far]);
    if (d > best) {
      best = d;
      apex = i;
    }
  }
  return apex < far ? [ring[0], ring[apex], ring[far]] : [ring[0], ring[far], ring[apex]];
}

/** Twice the signed area (shoelace); 0 for a degenerate ring. */
export function doubleArea(ring: readonly Pt[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  return a;
}
