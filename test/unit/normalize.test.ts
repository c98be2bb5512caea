import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { normalizeRecord, vertexItemId, type NormalizeOptions } from '../../scoring/normalize.js';
import { scoreChunkSync } from '../../scoring/chunk.js';
import type { ScoreChunkInput } from '../../scoring/types.js';

const labels = ['billing', 'shipping', 'other'];
const opts = (over: Partial<NormalizeOptions> = {}): NormalizeOptions => ({
  task: 'textcat',
  labels,
  labelSet: new Set(labels),
  probTolerance: 1e-3,
  format: 'auto',
  ...over,
});
const reason = (v: unknown, o = opts()) => {
  const r = normalizeRecord(v, o);
  return r.ok ? 'ok' : `${r.field}: ${r.reason}`;
};

describe('normalizeRecord (native)', () => {
  it('accepts probs or scores + config labels', () => {
    expect(normalizeRecord({ id: 'a', text: 't', probs: { billing: 0.5, shipping: 0.5 } }, opts())).toMatchObject({
      ok: true,
      record: { id: 'a', probs: { billing: 0.5, shipping: 0.5 } },
    });
    expect(normalizeRecord({ id: 7, text: 't', scores: [0.2, 0.3, 0.5] }, opts())).toMatchObject({
      ok: true,
      record: { id: '7', probs: { billing: 0.2, shipping: 0.3, other: 0.5 } },
    });
  });
  it('names the field and the problem for every bad probability', () => {
    expect(reason({ text: 't', probs: { billing: 1 } })).toBe('id: missing id');
    expect(reason({ id: 'a', text: 't', probs: { billing: Number.NaN, other: 1 } })).toBe('probs.billing: probability is NaN');
    expect(reason({ id: 'a', text: 't', probs: { billing: -0.1, other: 1.1 } })).toBe('probs.billing: probability is negative (-0.1)');
    expect(reason({ id: 'a', text: 't', probs: { billing: 0.7, other: 0.7 } })).toBe('probs: probabilities sum to 1.40000, not 1 (tolerance 0.001)');
    expect(reason({ id: 'a', text: 't', probs: { refunds: 1 } })).toBe('probs.refunds: unknown label "refunds"');
    expect(reason({ id: 'a', text: 't', scores: [0.5, 0.5] })).toBe('scores: scores has 2 values for 3 labels');
    expect(reason({ id: 'a', probs: { billing: 1 } })).toBe('text: task textcat needs text');
  });
  it('multi-label probabilities need not sum to 1', () => {
    expect(reason({ id: 'a', text: 't', probs: { billing: 0.9, other: 0.8 } }, opts({ task: 'textcat-multilabel' }))).toBe('ok');
  });
  it('rejects spans outside the text and unknown span labels', () => {
    const o = opts({ task: 'ner', labels: ['ORG'], labelSet: new Set(['ORG']) });
    expect(reason({ id: 'a', text: 'Acme', spans: [{ start: 0, end: 9, label: 'ORG', score: 0.4 }] }, o)).toBe(
      'spans[0]: span 0..9 is outside the text (length 4)',
    );
    expect(reason({ id: 'a', text: 'Acme', spans: [{ start: 0, end: 4, label: 'PER', score: 0.4 }] }, o)).toBe('spans[0].label: unknown label "PER"');
    expect(reason({ id: 'a', text: 'Acme', spans: [{ start: 0, end: 4, label: 'ORG', score: 0.4 }] }, o)).toBe('ok');
  });
  it('never throws, whatever the input', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = normalizeRecord(v, opts());
        return typeof r.ok === 'boolean';
      }),
      { numRuns: 2000 },
    );
  });
  it('keeps __proto__ keys as data without touching prototypes', () => {
    const r = normalizeRecord(JSON.parse('{"id":"a","text":"t","probs":{"billing":1},"meta":{"__proto__":{"polluted":true}}}'), opts());
    expect(r.ok).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('normalizeRecord (Vertex AI batch prediction)', () => {
  it('reads classification output with displayNames/confidences', () => {
    const r = normalizeRecord(
      {
        instance: { content: 'gs://b/doc.txt', mimeType: 'text/plain', id: 'doc-1' },
        prediction: { ids: ['1', '2'], displayNames: ['billing', 'other'], confidences: [0.7, 0.3] },
      },
      opts(),
    );
    expect(r).toMatchObject({ ok: true, record: { id: 'doc-1', probs: { billing: 0.7, other: 0.3 } } });
  });
  it('converts normalised detection bboxes [xMin, xMax, yMin, yMax] to pixels', () => {
    const o = opts({ task: 'image-boxes', labels: ['cat'], labelSet: new Set(['cat']) });
    const r = normalizeRecord(
      {
        instance: { content: 'gs://b/i.jpg', mimeType: 'image/jpeg', width: 200, height: 100 },
        prediction: { displayNames: ['cat'], confidences: [0.6], bboxes: [[0.1, 0.5, 0.2, 0.8]] },
      },
      o,
    );
    expect(r).toMatchObject({
      ok: true,
      record: { id: 'gs://b/i.jpg', image: 'gs://b/i.jpg', boxes: [{ x: 20, y: 20, w: 80, h: 60, label: 'cat', score: 0.6 }] },
    });
  });
  it('hashes instances without id or URI stably, independent of key order', () => {
    expect(vertexItemId({ a: 1, b: 'x' })).toBe(vertexItemId({ b: 'x', a: 1 }));
    expect(vertexItemId({ key: 'k-1' })).toBe('k-1');
  });
});

describe('scoreChunkSync', () => {
  const input = (lines: string[]): ScoreChunkInput => ({
    kind: 'score-chunk',
    chunk: new TextEncoder().encode(lines.join('\n')),
    object: 'file:///p.jsonl',
    firstLine: 10,
    format: 'auto',
    task: 'textcat',
    labels,
    strategy: { name: 'entropy', seed: 's' },
    topK: 2,
    auditK: 1,
    keepEmbedding: false,
    maxLineBytes: 1000,
    probTolerance: 1e-3,
  });
  it('keeps the local top-K and reports rejects with line numbers', () => {
    const out = scoreChunkSync(
      input([
        JSON.stringify({ id: 'sure', text: 't', probs: { billing: 1 } }),
        '{"id": "broken"',
        '',
        JSON.stringify({ id: 'unsure', text: 't', probs: { billing: 0.34, shipping: 0.33, other: 0.33 } }),
        JSON.stringify({ id: 'mid', text: 't', probs: { billing: 0.6, shipping: 0.4 } }),
      ]),
    );
    expect(out.top.map((e) => e.id)).toEqual(['unsure', 'mid']);
    expect(out.rejects).toEqual([{ object: 'file:///p.jsonl', line: 11, reason: expect.stringMatching(/^malformed JSON/) }]);
    expect(out.stats).toMatchObject({ read: 4, scored: 3, rejected: 1 });
    expect(out.audit).toHaveLength(1);
  });
  it('rejects invalid UTF-8 per line instead of mangling it', () => {
    const good = new TextEncoder().encode(`${JSON.stringify({ id: 'a', text: 't', probs: { billing: 1 } })}\n`);
    const bad = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]);
    const chunk = new Uint8Array(good.length + bad.length);
    chunk.set(good);
    chunk.set(bad, good.length);
    const out = scoreChunkSync({ ...input([]), chunk });
    expect(out.rejects).toEqual([{ object: 'file:///p.jsonl', line: 11, reason: 'invalid UTF-8' }]);
    expect(out.stats.scored).toBe(1);
  });
});
