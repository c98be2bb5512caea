/**
 * What the merge needs for one reviewed segmentation item, computed purely:
 * the reviewer's polygons as a class-index mask PNG (snapshots/vNNNNNN/masks/),
 * and the IoU between the model's mask and the reviewed one.
 *
 * The model's mask here is the rasterised prediction polygons the reviewer
 * was shown (the snapshot row's `prediction.boxes`), by the same rule as the
 * reviewed mask. So IoU measures exactly what the reviewer changed; it
 * differs from an IoU against the raw model mask only by the tracing
 * tolerance (pixels within ~0.5 px of a boundary).
 */
import { createHash } from 'node:crypto';
import { DEFAULT_MAX_PIXELS } from './png/decode.js';
import { classIou, type IouResult } from './iou.js';
import { encodeClassIndexPng } from './png/png-write.js';
import { fail, ok, type SegResult } from './result.js';
import { rasterizeSpans, readPolygonSpans } from './spans.js';

export interface ReviewedMask {
  png: Uint8Array;
  sha256: string;
  classes: Uint8Array;
}

function size(width: unknown, height: unknown): SegResult<{ width: number; height: number }> {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || (width as number) <= 0 || (height as number) <= 0) {
    return fail('width', 'a segmentation answer needs the image width and height (pixels) to rasterise its polygons');
  }
  // The size comes from the reviewer's export: bounded like a model's mask, so one odd line cannot exhaust memory.
  if ((width as number) * (height as number) > DEFAULT_MAX_PIXELS) {
    return fail('width', `${width}x${height} is above the limit of ${DEFAULT_MAX_PIXELS} pixels for a mask`);
  }
  return ok({ width: width as number, height: height as number });
}

/** A reviewer's span as Prodigy writes it: a polygon's points, or a rectangle's corner and size. */
export interface ReviewerSpan {
  label: string;
  points?: unknown;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

/**
 * A reviewer span as a polygon: its points, else the rectangle Prodigy's rect
 * tool gives without points. A span with neither has no points, so the item
 * is a reject wherever it is rasterised (the mask and its IoU alike).
 */
export function reviewerPolygon(b: ReviewerSpan): { label: string; points: unknown } {
  if (b.points !== undefined) return { label: b.label, points: b.points };
  const { x, y, width, height } = b;
  if (x === undefined || y === undefined || width === undefined || height === undefined) return { label: b.label, points: undefined };
  return {
    label: b.label,
    points: [
      [x, y],
      [x + width, y],
      [x + width, y + height],
      [x, y + height],
    ],
  };
}

/** Polygon points one reviewed item may hold. */
export const MAX_REVIEW_POINTS = 100_000;

/** Reviewer spans (as in `prodigy db-out`) → the snapshot's class-index mask PNG and its sha256. */
export function reviewedMask(spans: unknown, width: unknown, height: unknown, labels: readonly string[]): SegResult<ReviewedMask> {
  const s = size(width, height);
  if (!s.ok) return s;
  const points = Array.isArray(spans)
    ? spans.reduce((n: number, sp) => n + (Array.isArray((sp as { points?: unknown })?.points) ? (sp as { points: unknown[] }).points.length : 0), 0)
    : 0;
  // Rasterising costs rows × edges: a reviewer polygon of millions of points is a reject, not minutes per merge.
  if (points > MAX_REVIEW_POINTS) return fail('spans', `${points} polygon points, above the limit of ${MAX_REVIEW_POINTS} per item`);
  const polys = readPolygonSpans(spans, labels);
  if (!polys.ok) return polys;
  const classes = rasterizeSpans(polys.value, s.value.width, s.value.height);
  const png = encodeClassIndexPng({ width: s.value.width, height: s.value.height, data: classes });
  return ok({ png, sha256: createHash('sha256').update(png).digest('hex'), classes });
}

/** Per-class IoU between the prediction polygons (Box-shaped, with `points`) and a reviewed mask. */
export function predictionIou(predicted: unknown, reviewed: Uint8Array, width: number, height: number, labels: readonly string[]): SegResult<IouResult> {
  const boxes = Array.isArray(predicted) ? predicted : [];
  const polys = readPolygonSpans(
    boxes.map((b) => ({ label: (b as { label?: unknown }).label, points: (b as { points?: unknown }).points })),
    labels,
  );
  if (!polys.ok) return fail(`prediction.boxes${polys.field.slice('spans'.length)}`, polys.reason);
  return ok(classIou(rasterizeSpans(polys.value, width, height), reviewed, labels.length));
}

/**
 * Where an item's mask lives inside the snapshot folder: a hash of the item
 * id, since ids are often URIs ("gs://b/x.jpg") that are no file names, and
 * the same id must always map to the same file so reruns rewrite, not add.
 */
export function maskPath(itemId: string): string {
  return `masks/${createHash('sha256').update(itemId).digest('hex').slice(0, 32)}.png`;
}
