/**
 * `segmentation_iou` rows for one merge: per label and overall ("*"), the IoU
 * between the model's mask and the reviewed one, over the labelled
 * image-segmentation rows of a scope (this merge's items, or the snapshot).
 *
 * The model's mask is the prediction polygons the reviewer was shown, the
 * reviewed mask the polygons they answered with, both rasterised by the one
 * rule in scoring/segmentation/rasterize.ts (see scoring/segmentation/review.ts).
 *
 * - `iou`: pooled over the scope's items, Σ intersection / Σ union (the
 *   dataset-level figure semantic segmentation benchmarks report); null when
 *   the label is in neither mask of any item. On "*" rows: the mean of the
 *   labels' non-null `iou` (mean IoU), null when all are null.
 * - `mean_image_iou`: mean over items of the per-image IoU, counting only the
 *   items where the label is in at least one of the two masks (a label absent
 *   from both has no IoU, never 0); on "*" rows the mean over items of each
 *   image's mean IoU.
 */
import { predictionIou, reviewedMask, reviewerPolygon } from '../../scoring/segmentation/review.js';
import type { SnapshotRow } from '../records.js';
import type { Row } from './tables.js';

interface Totals {
  intersection: number[];
  union: number[];
  imageIouSum: number[];
  imageIouN: number[];
  meanSum: number;
  meanN: number;
  items: number;
}

function accumulate(rows: readonly SnapshotRow[], labels: readonly string[]): Totals {
  const k = labels.length;
  const t: Totals = {
    intersection: new Array(k).fill(0),
    union: new Array(k).fill(0),
    imageIouSum: new Array(k).fill(0),
    imageIouN: new Array(k).fill(0),
    meanSum: 0,
    meanN: 0,
    items: 0,
  };
  for (const row of rows) {
    if (row.status !== 'labelled' || !row.prediction || row.width === null || row.height === null) continue;
    const reviewed = reviewedMask((row.boxes ?? []).map(reviewerPolygon), row.width, row.height, labels);
    if (!reviewed.ok) continue;
    const r = predictionIou(row.prediction.boxes, reviewed.value.classes, row.width, row.height, labels);
    if (!r.ok) continue;
    t.items++;
    for (let c = 0; c < k; c++) {
      t.intersection[c] += r.value.intersection[c];
      t.union[c] += r.value.union[c];
      const iou = r.value.perClass[c];
      if (iou !== null) {
        t.imageIouSum[c] += iou;
        t.imageIouN[c]++;
      }
    }
    if (r.value.meanIou !== null) {
      t.meanSum += r.value.meanIou;
      t.meanN++;
    }
  }
  return t;
}

/** Rows of one scope; none when the scope holds no evaluable item. */
export function segmentationIouRows(rows: readonly SnapshotRow[], labels: readonly string[]): Row[] {
  const t = accumulate(rows, labels);
  if (t.items === 0) return [];
  const out: Row[] = [];
  const pooled: number[] = [];
  labels.forEach((label, c) => {
    const iou = t.union[c] > 0 ? t.intersection[c] / t.union[c] : null;
    if (iou !== null) pooled.push(iou);
    out.push({
      label,
      items: t.items,
      images_with_label: t.imageIouN[c],
      intersection_px: t.intersection[c],
      union_px: t.union[c],
      iou,
      mean_image_iou: t.imageIouN[c] > 0 ? t.imageIouSum[c] / t.imageIouN[c] : null,
    });
  });
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  out.push({
    label: '*',
    items: t.items,
    images_with_label: t.meanN,
    intersection_px: sum(t.intersection),
    union_px: sum(t.union),
    iou: pooled.length > 0 ? sum(pooled) / pooled.length : null,
    mean_image_iou: t.meanN > 0 ? t.meanSum / t.meanN : null,
  });
  return out;
}
