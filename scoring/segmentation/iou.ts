/**
 * Per-class IoU between two class-index rasters of the same size (the model's
 * mask and the reviewed one), for the labels 1..labelCount.
 *
 * - A class absent from both masks has no IoU: null, never 0 (0 would say the
 *   model got it completely wrong when there was nothing to get) and never 1
 *   (that would reward a model for the classes an image happens not to show).
 * - Mean IoU averages the non-null classes; null when every class is null.
 * - Background (0) is not a class here: on typical images it covers most
 *   pixels and would lift every mean towards 1.
 */

export interface IouResult {
  /** perClass[k] is the IoU of label k (class index k + 1), or null. */
  perClass: (number | null)[];
  meanIou: number | null;
  /** Pixel counts per label, for pooling over many images: intersection, union. */
  intersection: number[];
  union: number[];
}

export function classIou(predicted: Uint8Array, reviewed: Uint8Array, labelCount: number): IouResult {
  if (predicted.length !== reviewed.length) throw new RangeError(`masks differ in size: ${predicted.length} vs ${reviewed.length} pixels`);
  const k1 = labelCount + 1;
  // counts[a * k1 + b] = pixels with predicted class a and reviewed class b; one pass, (K+1)² counters.
  const counts = new Float64Array(k1 * k1);
  for (let i = 0; i < predicted.length; i++) {
    const a = predicted[i];
    const b = reviewed[i];
    if (a < k1 && b < k1) counts[a * k1 + b]++;
  }
  const intersection: number[] = [];
  const union: number[] = [];
  const perClass: (number | null)[] = [];
  let sum = 0;
  let defined = 0;
  for (let c = 1; c <= labelCount; c++) {
    let predTotal = 0;
    let revTotal = 0;
    for (let o = 0; o < k1; o++) {
      predTotal += counts[c * k1 + o];
      revTotal += counts[o * k1 + c];
    }
    const inter = counts[c * k1 + c];
    const uni = predTotal + revTotal - inter;
    intersection.push(inter);
    union.push(uni);
    if (uni === 0) {
      perClass.push(null);
    } else {
      const iou = inter / uni;
      perClass.push(iou);
      sum += iou;
      defined++;
    }
  }
  return { perClass, meanIou: defined === 0 ? null : sum / defined, intersection, union };
}
