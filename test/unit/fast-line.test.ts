import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scoreChunkSync } from '../../scoring/chunk.js';
import { fastLineScratch, parseFastLine } from '../../scoring/fast-line.js';
import type { ScoreChunkInput, StrategyName, TaskType } from '../../scoring/types.js';

const LABELS = ['pos', 'neg', 'neutral'];

function input(lines: string[], task: TaskType = 'textcat', name: StrategyName = 'entropy'): ScoreChunkInput {
  return {
    kind: 'score-chunk', chunk: new TextEncoder().encode(lines.join('\n')), object: 'o', firstLine: 1, format: 'auto', task,
    labels: LABELS, strategy: { name, seed: 's' }, topK: 50, auditK: 3, keepEmbedding: false, maxLineBytes: 1 << 20, probTolerance: 1e-3,
  };
}

/** The general path for the same content: an unknown extra key rules the fast path out and is ignored by normalizeRecord. */
const slowTwin = (line: string) => line.replace(/\}\s*$/, ',"zz_extra":1}');

describe('fast JSONL path', () => {
  it('accepts only what it reproduces exactly', () => {
    const s = fastLineScratch(LABELS, true, 1e-3)!;
    expect(parseFastLine('{"id":"a","text":"t","probs":{"pos":0.25,"neg":0.75}}', s)).toBe(true);
    expect(Array.from(s.row)).toEqual([0.25, 0.75, 0]);
    expect(parseFastLine(' { "probs" : { "neg" : 1e-1 , "pos":0.9 } , "text":"x" ,"id":"b" , "model":"m"} \r', s)).toBe(true);
    expect([s.id, s.text, s.model, s.row[0], s.row[1]]).toEqual(['b', 'x', 'm', 0.9, 0.1]);
    for (const bad of [
      '{"id":"a\\"b","text":"t","probs":{"pos":1}}', // escape
      '{"id":"a","text":"t","probs":{"pos":1},"meta":{}}', // other key
      '{"id":"a","id":"b","text":"t","probs":{"pos":1}}', // duplicate key
      '{"id":"a","text":"t","probs":{"pos":0.5,"pos":0.5}}', // duplicate label
      '{"id":"a","text":"t","probs":{"pos":0.5,"neg":0.4}}', // sum off
      '{"id":"a","text":"t","probs":{"pos":01}}', // not JSON
      '{"id":"a","text":"t","probs":{"pos":1.}}', // not JSON
      '{"id":"a","text":"t","probs":{"po":1}}', // unknown label (prefix)
      '{"id":"a","text":"t","probs":{}}', // empty
      '{"id":"","text":"t","probs":{"pos":1}}', // empty id
      '{"id":7,"text":"t","probs":{"pos":1}}', // numeric id: general path
      '{"id":"a","probs":{"pos":1}}', // textcat needs text
      '{"id":"a","text":"t","probs":{"pos":1}} x', // trailing garbage
      '{"id":"a","text":"t\u0001","probs":{"pos":1}}', // raw control character
    ]) expect(parseFastLine(bad, s), bad).toBe(false);
    expect(fastLineScratch(['0', 'b'], true, 1e-3)).toBeNull();
    expect(fastLineScratch(['__proto__'], true, 1e-3)).toBeNull();
  });

  it('gives the same result as the general path, line for line (property)', () => {
    const num = fc.oneof(
      fc.double({ min: 0, max: 1, noNaN: true }).map((x) => JSON.stringify(x)),
      fc.integer({ min: 0, max: 999999 }).map((x) => `0.${String(x).padStart(6, '0')}`),
      fc.constantFrom('0', '1', '1e-3', '0.5E0', '-0', '-0.1', '1.0000000000000002', '0.12345678901234567', '2'),
    );
    const line = fc.record({
      id: fc.string({ minLength: 0, maxLength: 6 }),
      text: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
      model: fc.option(fc.constantFrom('m1', 'm2'), { nil: undefined }),
      probs: fc.uniqueArray(fc.tuple(fc.constantFrom(...LABELS), num), { selector: (t) => t[0], maxLength: 3 }),
      order: fc.constantFrom(0, 1, 2),
      space: fc.constantFrom('', ' '),
    }).map((r) => {
      const parts = [`"id":${JSON.stringify(r.id)}`, `"probs":{${r.probs.map(([l, v]) => `"${l}":${r.space}${v}`).join(',')}}`];
      if (r.text !== undefined) parts.push(`"text":${JSON.stringify(r.text)}`);
      if (r.model !== undefined) parts.push(`"model":${JSON.stringify(r.model)}`);
      for (let i = 0; i < r.order; i++) parts.push(parts.shift()!);
      return `{${parts.join(`,${r.space}`)}}`;
    });
    fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 30 }), fc.constantFrom<TaskType>('textcat', 'textcat-multilabel'), fc.constantFrom<StrategyName>('entropy', 'margin', 'multilabel-entropy'), (lines, task, name) => {
      const fast = scoreChunkSync(input(lines, task, name));
      const slow = scoreChunkSync(input(lines.map(slowTwin), task, name));
      const strip = (r: typeof fast) => JSON.stringify({ ...r, rejects: r.rejects.map((x) => [x.line, x.field, x.id]) });
      expect(strip(fast)).toBe(strip(slow));
    }), { numRuns: 300 });
  });
});
