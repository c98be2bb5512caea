import { describe, expect, it } from 'vitest';
import { formatEstimate, formatHeadline, formatReviewed, pickHeadline, REVIEWED_NOTE, type Estimate } from '../../worker/stats/headline.js';

const e = (model: string, round_id: string | null, measure: string, extra: Partial<Estimate> = {}): Estimate => ({
  model,
  round_id,
  measure,
  estimate: 0.9166,
  ci_low: 0.6461,
  ci_high: 0.9851,
  n_sample: 12,
  method: 'wilson score',
  flag: null,
  ...extra,
});

describe('quality headline', () => {
  it('reads as the issue asks: model, round, measure, estimate, interval, n audited', () => {
    expect(formatEstimate(e('intent-v2', '20261108T0200Z', 'accuracy'))).toBe(
      'model intent-v2, round 20261108T0200Z: accuracy 0.92 [0.65, 0.99], n = 12 audited',
    );
    expect(formatEstimate(e('ner-v1', null, 'span_f1', { n_sample: 6, flag: 'low_n' }))).toBe(
      'model ner-v1, all rounds: span f1 0.92 [0.65, 0.99], n = 6 audited — LOW N',
    );
    expect(formatEstimate(e('m', 'r', 'accuracy', { ci_low: null, ci_high: null }))).toBe('model m, round r: accuracy 0.92 no interval, n = 12 audited');
  });

  it('picks one measure, per model the latest round then all rounds, never the pooled row', () => {
    const rows = [
      e('*', null, 'accuracy'),
      e('v2', 'r2', 'accuracy'),
      e('v1', 'r2', 'accuracy'),
      e('v1', 'r1', 'accuracy'),
      e('v1', null, 'accuracy'),
      e('v1', 'r2', 'f1'),
      e('v1', 'r2', 'kappa'),
    ];
    expect(pickHeadline(rows).map((r) => [r.model, r.round_id, r.measure])).toEqual([
      ['v1', 'r2', 'accuracy'],
      ['v1', null, 'accuracy'],
      ['v2', 'r2', 'accuracy'],
    ]);
    // NER has no accuracy: span F1 leads.
    expect(pickHeadline([e('n', 'r', 'exact_match'), e('n', 'r', 'span_f1')]).map((r) => r.measure)).toEqual(['span_f1']);
  });

  it('labels reviewed-for-doubt figures and says when there is no audit estimate yet', () => {
    const reviewed = { note: REVIEWED_NOTE as typeof REVIEWED_NOTE, items: 204, f1: 0.8431, agreement: 0.8431, acceptance_rate: 0.8293 };
    expect(formatReviewed(reviewed)).toBe(
      'reviewed items, selected for doubt: not a quality estimate — 204 items: F1 0.843, agreement 0.843, suggestion kept 0.829',
    );
    expect(formatHeadline({ snapshot_version: 1, estimates: [], reviewed }, '')).toEqual([
      'no audit estimate yet (no audited item answered)',
      formatReviewed(reviewed),
    ]);
  });
});
