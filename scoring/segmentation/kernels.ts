/**
 * Segmentation uncertainty kernels. Higher = more worth a human look, in
 * [0, 1] like every other strategy.
 *
 * Inputs are a class-index raster (0 = background) and a confidence raster of
 * bytes, where byte b means confidence b / 255 (Vertex AI's `confidenceMask`:
 * 0 = no confidence, 255 = full). The predicted foreground is every pixel
 * whose class is not 0.
 *
 * An empty foreground scores 0, as empty inputs do for every strategy
 * (`box-min` on an image with no boxes, `span-min` on a text with no spans):
 * the model claims nothing, so there is no prediction whose confidence could
 * be doubted. Images where the model misses everything are a recall problem
 * these scores cannot see; the audit slice (a uniform sample) is what
 * surfaces them.
 */

/** `mask-mean-uncertainty`: mean of 1 − confidence over the foreground = 1 − Σb / (255 · n). */
export function maskMeanUncertainty(classes: Uint8Array, confidence: Uint8Array): number {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < classes.length; i++) {
    if (classes[i] !== 0) {
      n++;
      sum += confidence[i];
    }
  }
  return n === 0 ? 0 : 1 - sum / (255 * n);
}

/**
 * Which confidence bytes count as low for threshold t: b / 255 < t, decided
 * once per byte value so the per-pixel test is exact and agrees with the
 * definition (comparing b < 255 · t instead would misjudge b = 51, t = 0.2 by
 * floating-point rounding).
 */
export function lowConfidenceTable(threshold: number): Uint8Array {
  const table = new Uint8Array(256);
  for (let b = 0; b < 256; b++) table[b] = b / 255 < threshold ? 1 : 0;
  return table;
}

/** `mask-low-confidence-area`: share of foreground pixels whose confidence is below `threshold`. */
export function maskLowConfidenceArea(classes: Uint8Array, confidence: Uint8Array, threshold: number): number {
  const low = lowConfidenceTable(threshold);
  let n = 0;
  let lowCount = 0;
  for (let i = 0; i < classes.length; i++) {
    if (classes[i] !== 0) {
      n++;
      lowCount += low[confidence[i]];
    }
  }
  return n === 0 ? 0 : lowCount / n;
}

/** `mask-min-instance`: 1 − the lowest instance score. No instances: 0. */
export function maskMinInstance(scores: ArrayLike<number>): number {
  if (scores.length === 0) return 0;
  let min = 1;
  for (let i = 0; i < scores.length; i++) if (scores[i] < min) min = scores[i];
  return 1 - min;
}
