import { describe, expect, it } from 'vitest';
import { answerUnchanged, evaluateRow, mergeBatchId, mergeRows, roundBatchId, roundRows } from '../../domain/quality/compute.js';
import { TABLES, type Row } from '../../domain/quality/tables.js';
import { answer, MERGES, ROUNDS, row } from '../fixtures/stats-sample.js';

const find = (rows: Row[] | undefined, where: Record<string, unknown>) => (rows ?? []).filter((r) => Object.entries(where).every(([k, v]) => r[k] === v));

describe('roundRows', () => {
  const [r1, r2, r3] = ROUNDS;

  it('derives event time and batch id from the manifest, and is deterministic', () => {
    const a = roundRows(r3, r2, r1);
    expect(JSON.stringify(a)).toBe(JSON.stringify(roundRows(r3, r2, r1)));
    expect(a.rounds![0]).toMatchObject({
      event_time: '2026-11-27T02:00:00.000Z',
      batch_id: roundBatchId('support-intents', r3.round),
      items_scored: 100,
      items_queued: 5,
    });
    // queued scores 1.0, 1.02, 1.05, 1.08 → median (1.02 + 1.05)/2 = 1.035
    expect(a.rounds![0].score_p50).toBeCloseTo(1.035, 12);
    expect(a.rounds![0].mean_confidence).toBeCloseTo(0.7, 12);
  });

  it('writes 20 score bins and 10 confidence bins, and the label distribution', () => {
    const a = roundRows(r1, null, null);
    expect(find(a.round_histograms, { histogram: 'score' })).toHaveLength(20);
    const conf = find(a.round_histograms, { histogram: 'confidence' });
    expect(conf.map((r) => r.n)).toEqual(r1.stats.confidenceHist);
    expect(conf[9]).toMatchObject({ bin_lower: 0.9, bin_upper: 1 });
    expect(a.round_labels!.map((r) => [r.label, r.n, r.share])).toEqual([
      ['billing', 50, 0.5],
      ['shipping', 30, 0.3],
      ['returns', 20, 0.2],
    ]);
    expect(a.drift).toEqual([]);
  });

  it('compares against the previous and the reference round', () => {
    const a = roundRows(r3, r2, r1);
    expect(a.drift!.map((d) => [d.baseline, d.baseline_round_id])).toEqual([
      ['previous', r2.round],
      ['reference', r1.round],
    ]);
    const prev = roundRows(r2, r1, r1).drift!;
    // r1 → r2 barely moves; r3 shifts both confidence and labels.
    expect(prev).toHaveLength(2);
    // r1 → r2 moves a few records between bins of 100: well inside the noise floor for two samples of 100.
    expect(prev[0].psi_band).toBe('within-noise');
    expect(prev[0].psi_confidence as number).toBeLessThan(prev[0].psi_noise_p95 as number);
    // r1's confidences start at bin 3: the quantile bins leave the three empty bins out of their own groups.
    expect(prev[0].psi_bins).toBeLessThanOrEqual(7);
    expect(a.drift![0].psi_band).toBe('significant');
    expect(a.drift![0].js_labels as number).toBeGreaterThan(0.05);
    expect(a.drift![0].mean_entropy_delta).toBeCloseTo(0, 12);
    // The reference being the round itself gives no row.
    expect(roundRows(r1, null, r1).drift).toEqual([]);
  });

  it('leaves confidence, entropy, their deltas and PSI null where predictions carry no class probabilities (NER)', () => {
    const ner = (m: typeof r1) => ({
      ...m,
      task: 'ner' as const,
      stats: { ...m.stats, scored: 100, confidenceHist: new Array<number>(10).fill(0), confidenceSum: 0, entropySum: 0, confidenceNano: 0, entropyNano: 0 },
    });
    const a = roundRows(ner(r2), ner(r1), null);
    expect(a.rounds![0]).toMatchObject({ mean_confidence: null, mean_entropy: null });
    expect(a.drift![0]).toMatchObject({
      psi_confidence: null,
      psi_band: null,
      psi_bins: null,
      psi_noise_p95: null,
      mean_confidence_delta: null,
      mean_entropy_delta: null,
    });
  });

  it('only emits columns the table definitions know', () => {
    const rows = { ...roundRows(r3, r2, r1), ...mergeRows(MERGES[1]) };
    for (const [table, list] of Object.entries(rows)) {
      const cols = new Set(TABLES.find((t) => t.name === table)!.columns.map((c) => c.name));
      for (const r of list ?? []) for (const k of Object.keys(r)) expect(cols.has(k), `${table}.${k}`).toBe(true);
    }
  });
});

describe('mergeRows', () => {
  const v1 = mergeRows(MERGES[0]);
  const v2 = mergeRows(MERGES[1]);

  it('is deterministic and timed by asOf', () => {
    expect(JSON.stringify(mergeRows(MERGES[0]))).toBe(JSON.stringify(v1));
    expect(v1.snapshots![0]).toMatchObject({ event_time: MERGES[0].asOf, batch_id: mergeBatchId('support-intents', 1), items: 5, labelled: 4, answers: 8 });
    expect(v2.snapshots![0]).toMatchObject({ items: 8, labelled: 7, changed: 3, audit_items: 2, external_items: 1, answers: 12 });
  });

  it('scores the model against the human labels (snapshot scope, all slice)', () => {
    // i1 billing✓, i2 tie billing/shipping → billing (first by name) vs shipping ✗, i3 returns✓, a1 billing✓; i4 ignored.
    const all = find(v1.label_quality, { scope: 'snapshot', slice: 'all' });
    // Acceptance: 7 accept answers; only ann's "shipping" on i2 changed the pre-selected arg-max (billing) → 6/7.
    expect(find(all, { label: '*' })[0]).toMatchObject({
      items: 4,
      agreement: 0.75,
      exact_match: 0.75,
      acceptance_rate: 6 / 7,
      ignore_rate: 1 / 8,
      weighted: false,
      ece: null,
    });
    // billing: tp 2 (i1, a1), fp 1 (i2) → P 2/3, R 1;  shipping: fn 1 → R 0, P undefined
    const billing = find(all, { label: 'billing' })[0];
    expect(billing.precision_score).toBeCloseTo(2 / 3, 12);
    expect(billing.recall_score).toBe(1);
    expect(find(all, { label: 'shipping' })[0]).toMatchObject({ recall_score: 0, precision_score: null, f1_score: null });
  });

  it('weights the audit slice by 1/inclusion_p and computes ECE there', () => {
    // a1: π = .01 → weight 100; predicted billing .9, correct → ECE |1 − .9| = .1
    const audit = find(v1.label_quality, { scope: 'snapshot', slice: 'audit', label: '*' })[0];
    expect(audit).toMatchObject({ weighted: true, items: 1, tp: 100, agreement: 1 });
    expect(audit.ece).toBeCloseTo(0.1, 12);
    // uncertainty slice leaves out the audit item: agreement 2/3
    expect(find(v1.label_quality, { scope: 'snapshot', slice: 'uncertainty', label: '*' })[0].agreement).toBeCloseTo(2 / 3, 12);
  });

  it('merge scope covers only the changed items', () => {
    // i5 shipping vs returns ✗, a2 ✓, e1 ✓
    expect(find(v2.label_quality, { scope: 'merge', slice: 'all', label: '*' })[0]).toMatchObject({ items: 3 });
    expect(find(v2.label_quality, { scope: 'merge', slice: 'uncertainty', label: '*' })[0]).toMatchObject({ items: 1, agreement: 0 });
  });

  it('annotator throughput and agreement', () => {
    // ann: T0, +30, +60, +90 → gaps 30, 30, 30
    expect(find(v1.annotators, { annotator: 'ann' })[0]).toMatchObject({ answers: 4, accepts: 3, ignores: 1, items: 4, gap_p50_s: 30, gap_mean_s: 30 });
    // ann vs bob on i1..i3: ann b,s,r; bob b,b,r → p_o 2/3, p_e = 1/3·2/3 + 1/3·1/3 = 1/3 → κ = .5
    const cohen = find(v1.annotator_agreement, { metric: 'cohen' });
    expect(cohen).toHaveLength(1);
    expect(cohen[0]).toMatchObject({ annotator_a: 'ann', annotator_b: 'bob', items: 3 });
    expect(cohen[0].kappa).toBeCloseTo(0.5, 12);
    // Fleiss: P̄ = (1 + 0 + 1)/3, shares b 3/6, s 1/6, r 2/6 → P̄e = 14/36 → κ = (24/36 − 14/36)/(22/36) = 5/11
    expect(find(v1.annotator_agreement, { metric: 'fleiss' })[0].kappa).toBeCloseTo(5 / 11, 12);
  });
});

describe('evaluateRow', () => {
  it('matches NER spans exactly', () => {
    const r = {
      ...row('n1', {}, null, []),
      task: 'ner' as const,
      status: 'labelled' as const,
      prediction: { spans: [{ start: 0, end: 4, label: 'ORG' }] },
      spans: [
        { start: 0, end: 4, label: 'ORG' },
        { start: 9, end: 12, label: 'PER' },
      ],
    };
    const e = evaluateRow(r, 'ner')!;
    expect(e.same).toBe(false);
    expect(e.item.predicted).toEqual([{ label: 'ORG', key: '0:4:ORG' }]);
    expect(e.item.gold).toHaveLength(2);
  });
  it('thresholds multi-label probabilities at 0.5', () => {
    const r = { ...row('m1', { a: 0.7, b: 0.5, c: 0.2 }, null, []), task: 'textcat-multilabel' as const, status: 'labelled' as const, labels: ['b', 'a'] };
    expect(evaluateRow(r, 'textcat-multilabel')!.same).toBe(true);
  });
});

describe('NER agreement, exact match and acceptance', () => {
  const spanAnswer = (spans: Array<{ start: number; end: number; label: string }>, kind: 'accept' | 'reject' = 'accept') => ({
    ...answer('ann', 1, ''),
    answer: kind,
    accept: null,
    spans,
    view: 'ner_manual',
  });
  const nerRow = (
    id: string,
    pred: Array<{ start: number; end: number; label: string }>,
    gold: Array<{ start: number; end: number; label: string }>,
    answers: ReturnType<typeof spanAnswer>[],
  ) => ({
    ...row(id, {}, null, answers),
    task: 'ner' as const,
    status: 'labelled' as const,
    label: null,
    labels: [],
    prediction: { spans: pred },
    spans: gold,
  });
  const ORG = { start: 0, end: 4, label: 'ORG' };
  const PER = { start: 9, end: 12, label: 'PER' };
  const LOC = { start: 20, end: 25, label: 'LOC' };
  // d1: 2 predicted, both kept, one added (not an exact match); d2: 1 predicted and kept, nothing added (exact);
  // d3: 1 predicted, dropped. Predicted spans 4, kept 3 → agreement 3/4; documents exactly right 1/3.
  const rows = [
    nerRow('d1', [ORG, PER], [ORG, PER, LOC], [spanAnswer([ORG, PER, LOC])]),
    nerRow('d2', [ORG], [ORG], [spanAnswer([ORG])]),
    nerRow('d3', [LOC], [], [spanAnswer([])]),
  ];
  const all = find(mergeRows({ project: 'c', version: 1, asOf: null, changed: rows, all: rows, task: 'ner', labels: ['ORG', 'PER', 'LOC'] }).label_quality, {
    scope: 'snapshot',
    slice: 'all',
    label: '*',
  })[0];

  it('agreement is the share of predicted spans the reviewer kept; the document match has its own name', () => {
    expect(all.agreement).toBeCloseTo(3 / 4, 12);
    expect(all.exact_match).toBeCloseTo(1 / 3, 12);
  });

  it('acceptance is the share of answers that left the pre-drawn spans unchanged (1 of 3 here), rejects count as changed', () => {
    expect(all.acceptance_rate).toBeCloseTo(1 / 3, 12);
    expect(answerUnchanged(spanAnswer([ORG]), rows[1], 'ner')).toBe(true);
    expect(answerUnchanged(spanAnswer([ORG], 'reject'), rows[1], 'ner')).toBe(false);
    // Binary classification: accepting the shown label keeps it; a reject changes it.
    const binary = { ...answer('bob', 2, ''), accept: null, label: 'billing', view: 'classification' };
    const r = row('b1', { billing: 0.8, shipping: 0.2 }, 'billing', []);
    expect(answerUnchanged(binary, r, 'textcat')).toBe(true);
    expect(answerUnchanged({ ...binary, answer: 'reject' }, r, 'textcat')).toBe(false);
    // No prediction: nothing to compare with.
    expect(answerUnchanged(binary, { ...r, prediction: null }, 'textcat')).toBeNull();
  });

  it('image boxes: unchanged when every box matches one-to-one at IoU ≥ 0.5 with the same label', () => {
    const r = { ...row('i1', {}, null, []), task: 'image-boxes' as const, prediction: { boxes: [{ x: 0, y: 0, w: 10, h: 10, label: 'car' }] } };
    const box = (x: number, label = 'car') => ({
      ...answer('ann', 1, ''),
      accept: null,
      spans: null,
      boxes: [{ label, x, y: 0, width: 10, height: 10 }],
      view: 'image_manual',
    });
    // Shifted by 2 px: IoU 80/120 = 0.667 → unchanged; by 6 px: 40/160 = 0.25 → changed; another label → changed.
    expect(answerUnchanged(box(2), r, 'image-boxes')).toBe(true);
    expect(answerUnchanged(box(6), r, 'image-boxes')).toBe(false);
    expect(answerUnchanged(box(0, 'bus'), r, 'image-boxes')).toBe(false);
  });
});
