import { describe, expect, it } from 'vitest';
import { mergeRows } from '../../domain/quality/compute.js';
import type { SnapshotRow } from '../../domain/records.js';
import { segmentationIouRows } from '../../domain/quality/segmentation-iou.js';

const labels = ['scratch', 'dent'];
const square = (x: number, y: number, s: number) => [
  [x, y],
  [x + s, y],
  [x + s, y + s],
  [x, y + s],
];

function row(id: string, predicted: Array<[string, number[][]]>, reviewed: Array<[string, number[][]]>, over: Partial<SnapshotRow> = {}): SnapshotRow {
  return {
    id,
    task: 'image-segmentation',
    text: null,
    image: `gs://b/${id}.png`,
    audio: null,
    width: 10,
    height: 10,
    label: null,
    labels: [],
    negatives: [],
    spans: null,
    boxes: reviewed.map(([label, points]) => ({ label, points })),
    audio_spans: null,
    tokens: null,
    status: 'labelled',
    provenance: 'round',
    round: 'r1',
    model: 'm',
    score: 0.5,
    audit: false,
    inclusion_p: null,
    prediction_source: null,
    prediction: { boxes: predicted.map(([label, points]) => ({ label, points })) },
    annotators: ['ann'],
    answered_at: 1_800_000_000,
    answers: [],
    input_hash: 0,
    task_hash: 0,
    version: 1,
    mask_path: null,
    ...over,
  };
}

describe('segmentation_iou rows', () => {
  // a: scratch predicted as the 4×4 square at (0,0), reviewed as the 4×4 square at (2,0): overlap 2×4 = 8 px, union 24 px.
  //    dent predicted nowhere, reviewed as the 2×2 square at (6,6) = 4 px → IoU 0.
  // b: scratch identical 3×3 → 9/9; dent absent from both → null.
  const a = row(
    'a',
    [['scratch', square(0, 0, 4)]],
    [
      ['scratch', square(2, 0, 4)],
      ['dent', square(6, 6, 2)],
    ],
  );
  const b = row('b', [['scratch', square(1, 1, 3)]], [['scratch', square(1, 1, 3)]]);
  it('pooled IoU per label, mean IoU over labels, per-image means (absent = null, not 0)', () => {
    const rows = segmentationIouRows([a, b], labels);
    expect(rows).toEqual([
      { label: 'scratch', items: 2, images_with_label: 2, intersection_px: 8 + 9, union_px: 24 + 9, iou: 17 / 33, mean_image_iou: (8 / 24 + 1) / 2 },
      { label: 'dent', items: 2, images_with_label: 1, intersection_px: 0, union_px: 4, iou: 0, mean_image_iou: 0 },
      { label: '*', items: 2, images_with_label: 2, intersection_px: 17, union_px: 37, iou: (17 / 33 + 0) / 2, mean_image_iou: ((8 / 24 + 0) / 2 + 1) / 2 },
    ]);
  });
  it('a label in no mask anywhere has iou null', () => {
    const rows = segmentationIouRows([b], labels);
    expect(rows.find((r) => r.label === 'dent')).toMatchObject({ iou: null, mean_image_iou: null, images_with_label: 0 });
    expect(rows.find((r) => r.label === '*')).toMatchObject({ iou: 1 });
  });
  it('rows that are not labelled, or lack a prediction or size, are not evaluated', () => {
    expect(
      segmentationIouRows([row('c', [], [], { status: 'ignored' }), row('d', [], [], { prediction: null }), row('e', [], [], { width: null })], labels),
    ).toEqual([]);
  });
  it('mergeRows writes the table for image-segmentation projects, per scope', () => {
    const out = mergeRows({ project: 'parts', version: 2, asOf: '2027-01-15T08:00:00.000Z', changed: [a], all: [a, b], task: 'image-segmentation', labels });
    const iou = out.segmentation_iou ?? [];
    expect(iou.filter((r) => r.label === '*').map((r) => [r.scope, r.items, r.snapshot_version])).toEqual([
      ['merge', 1, 2],
      ['snapshot', 2, 2],
    ]);
    expect(mergeRows({ project: 'p', version: 1, asOf: null, changed: [], all: [], task: 'textcat', labels }).segmentation_iou).toBeUndefined();
  });
});
