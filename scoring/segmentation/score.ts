/**
 * Strategy name → segmentation kernel, with the fields each one needs.
 * A record that lacks them is unscorable (a reject naming the field), never
 * silently scored 0: a missing confidence mask is a producer problem the user
 * can fix, not an image the model is sure about.
 */
import { maskLowConfidenceArea, maskMeanUncertainty, maskMinInstance } from './kernels.js';
import type { SegmentationPrediction } from './record.js';

export const SEGMENTATION_STRATEGIES = Object.freeze(['mask-mean-uncertainty', 'mask-low-confidence-area', 'mask-min-instance'] as const);
export type SegmentationStrategy = (typeof SEGMENTATION_STRATEGIES)[number];

export interface SegmentationScoreOptions {
  /** `mask-low-confidence-area`: a pixel is low when its confidence is below this (0..1). */
  lowConfidenceBelow: number;
}

export type SegScore = { ok: true; score: number } | { ok: false; field: string; reason: string };

export function scoreSegmentation(p: SegmentationPrediction, strategy: SegmentationStrategy, opts: SegmentationScoreOptions): SegScore {
  switch (strategy) {
    case 'mask-mean-uncertainty':
    case 'mask-low-confidence-area': {
      if (!p.confidence)
        return {
          ok: false,
          field: 'confidence_mask',
          reason: `${strategy} needs per-pixel confidence (Vertex AI confidenceMask, a native confidence_mask, or scored instances)`,
        };
      const score =
        strategy === 'mask-mean-uncertainty'
          ? maskMeanUncertainty(p.classes, p.confidence)
          : maskLowConfidenceArea(p.classes, p.confidence, opts.lowConfidenceBelow);
      return { ok: true, score };
    }
    case 'mask-min-instance':
      if (p.instanceScores.length === 0 && p.classes.some((c) => c !== 0)) {
        return {
          ok: false,
          field: 'instances',
          reason: 'mask-min-instance needs per-instance scores; semantic masks (Vertex AI categoryMask, mask PNGs) have none',
        };
      }
      return { ok: true, score: maskMinInstance(p.instanceScores) };
  }
}
