import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { select } from '../../domain/select.js';
import { resolveAnswers } from '../../domain/prodigy/resolve.js';
import { splitQueue } from '../../domain/prodigy/annotators.js';
import type { Answer } from '../../domain/records.js';
import type { ScoredEntry } from '../../scoring/types.js';

const e = (id: string, score: number, u: number): ScoredEntry => ({ id, score, u, source: { object: 'o', line: 1 }, record: { id } });

describe('select', () => {
  it('fills topK with the audit sample interleaved and exact inclusion probabilities', () => {
    const top = [e('a', 0.9, 0.5), e('b', 0.8, 0.6), e('c', 0.7, 0.7), e('d', 0.6, 0.8)];
    const audit = [e('z', 0.1, 0.01), e('b', 0.8, 0.02)];
    const s = select(top, audit, 100, { topK: 4, auditFraction: 0.5, labels: [] });
    // Audit = z and b (2 of 100 → p = 0.02); uncertainty = best two not audited: a, c.
    expect(s.items.map((i) => [i.entry.id, i.audit, i.rank])).toEqual([
      ['a', false, 1],
      ['z', true, 2],
      ['c', false, 3],
      ['b', true, 4],
    ]);
    expect(s.auditP).toBeCloseTo(0.02);
    expect(s.items.filter((i) => i.audit).every((i) => i.p === s.auditP)).toBe(true);
  });
  it('never queues an id twice and never more than topK', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })),
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (xs, k, f) => {
          const entries = xs.map(([id, s, u]) => e(id, s, u));
          const sel = select(
            [...entries].sort((x, y) => y.score - x.score),
            [...entries].sort((x, y) => x.u - y.u),
            entries.length,
            { topK: k, auditFraction: f, labels: [] },
          );
          const ids = sel.items.map((i) => i.entry.id);
          return new Set(ids).size === ids.length && ids.length <= k && sel.items.every((it, i) => it.rank === i + 1);
        },
      ),
    );
  });
});

const ans = (over: Partial<Answer>): Answer => ({
  answer: 'accept',
  annotator: null,
  session: null,
  timestamp: null,
  label: null,
  accept: null,
  spans: null,
  boxes: null,
  audio_spans: null,
  view: null,
  source: 's',
  adjudicated: false,
  ...over,
});

describe('resolveAnswers', () => {
  const choice = (label: string, t: number, annotator = 'x') => ans({ accept: [label], timestamp: t, annotator });
  it('latest: the newest answer wins', () => {
    expect(resolveAnswers([choice('a', 2), choice('b', 1)], 'latest', true)).toMatchObject({ status: 'labelled', label: 'a', labels: ['a'] });
  });
  it('majority: most common value; a tie for the most answers (a 1–1 split) is a conflict with no label', () => {
    expect(resolveAnswers([choice('a', 1), choice('b', 2), choice('a', 3, 'y'), choice('b', 4, 'z'), choice('a', 0, 'w')], 'majority', true)).toMatchObject({
      label: 'a',
    });
    expect(resolveAnswers([choice('a', 1), choice('b', 2)], 'majority', true)).toMatchObject({ status: 'conflict', label: null, labels: [] });
    expect(resolveAnswers([choice('a', 1), choice('b', 2), choice('b', 3, 'y'), choice('a', 4, 'z')], 'majority', true).status).toBe('conflict');
  });
  it('unanimous: any disagreement is a conflict with no label', () => {
    expect(resolveAnswers([choice('a', 1), choice('b', 2)], 'unanimous', true)).toMatchObject({ status: 'conflict', label: null, labels: [] });
    expect(resolveAnswers([choice('a', 1), choice('a', 2)], 'unanimous', true)).toMatchObject({ status: 'labelled', label: 'a' });
  });
  it('ignore is recorded but is no label', () => {
    expect(resolveAnswers([ans({ answer: 'ignore' })], 'latest', true)).toMatchObject({ status: 'ignored', label: null });
    expect(resolveAnswers([ans({ answer: 'ignore', timestamp: 9 }), choice('a', 1)], 'latest', true)).toMatchObject({ status: 'labelled', label: 'a' });
  });
  it('a binary reject is a negative for that label', () => {
    const r = resolveAnswers([ans({ label: 'DOC', answer: 'reject' }), ans({ label: 'BUG', answer: 'accept' })], 'latest', false);
    expect(r).toMatchObject({ status: 'labelled', labels: ['BUG'], negatives: ['DOC'], label: 'BUG' });
    expect(resolveAnswers([ans({ label: 'DOC', answer: 'reject' })], 'latest', true)).toMatchObject({
      status: 'negative-only',
      labels: [],
      negatives: ['DOC'],
    });
  });
  it('adjudicated (review recipe) answers override the others', () => {
    expect(resolveAnswers([choice('a', 5), choice('a', 6, 'y'), ans({ accept: ['b'], timestamp: 1, adjudicated: true })], 'majority', true)).toMatchObject({
      label: 'b',
    });
  });
  it('span answers resolve as whole span sets', () => {
    const s1 = ans({ spans: [{ start: 0, end: 4, label: 'ORG' }], timestamp: 1 });
    const s2 = ans({ spans: [{ start: 0, end: 4, label: 'PER' }], timestamp: 2 });
    expect(resolveAnswers([s1, s2], 'latest', true)).toMatchObject({ status: 'labelled', spans: [{ start: 0, end: 4, label: 'PER' }] });
    expect(resolveAnswers([s1, s2], 'unanimous', true).status).toBe('conflict');
  });
});

describe('splitQueue', () => {
  it('assigns each item to `overlap` annotators round-robin, stable and even', () => {
    const m = splitQueue([1, 2, 3, 4, 5, 6], ['a', 'b', 'c'], 2);
    expect(Object.fromEntries(m)).toEqual({ a: [1, 3, 4, 6], b: [1, 2, 4, 5], c: [2, 3, 5, 6] });
  });
});
