/**
 * image-segmentation snapshots: every labelled row's reviewed polygons as a
 * class-index mask PNG under the snapshot folder (`masks/<hash of id>.png`),
 * named by the row's `mask_path`, listed in the manifest with its sha256 and
 * the label ↔ index order. Masks are rasterised again for every snapshot from
 * the rows (the same rows give the same bytes), so each snapshot folder is
 * complete on its own.
 *
 * A row that cannot be rasterised (no image size, a malformed polygon in an
 * old snapshot) gets `mask_path: null` and a line in the snapshot's rejects;
 * the merge goes on.
 */
import type { BadExportLine } from '../../domain/prodigy/exports.js';
import type { SnapshotMasks, SnapshotRow } from '../../domain/records.js';
import { maskPath, reviewedMask, reviewerPolygon } from '../../scoring/segmentation/review.js';

export interface SegmentationMaskFiles {
  files: Array<{ name: string; bytes: Uint8Array; type: string }>;
  manifest: SnapshotMasks;
  rejects: BadExportLine[];
}

/** Sets `mask_path` on every row (in place) and returns the mask files, in row order. */
export function segmentationMasks(rows: SnapshotRow[], labels: string[]): SegmentationMaskFiles {
  const files: SegmentationMaskFiles['files'] = [];
  const rejects: BadExportLine[] = [];
  for (const row of rows) {
    row.mask_path = null;
    if (row.status !== 'labelled') continue;
    let m: ReturnType<typeof reviewedMask>;
    try {
      m = reviewedMask((row.boxes ?? []).map(reviewerPolygon), row.width, row.height, labels);
    } catch (err) {
      // Whatever a reviewer's line holds, the merge goes on: this row gets no mask, and the reject says why.
      m = { ok: false, field: '(row)', reason: (err as Error).message };
    }
    if (!m.ok) {
      rejects.push({ object: `(snapshot row ${row.id})`, line: 0, field: m.field, reason: `no mask written: ${m.reason}` });
      continue;
    }
    row.mask_path = maskPath(row.id);
    files.push({ name: row.mask_path, bytes: m.value.png, type: 'image/png' });
  }
  return { files, manifest: { encoding: 'png-8bit-grey-class-index', labels: [...labels], count: files.length }, rejects };
}
