import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { murmur3, signed32, uniform01 } from '../../scoring/hash.js';
import { buildTask, inputHash, taskHash, type TaskContext } from '../../domain/prodigy/tasks.js';
import { tokenize, tokenRange } from '../../domain/prodigy/tokenize.js';
import type { ScoredEntry } from '../../scoring/types.js';

describe('murmur3', () => {
  it('matches the reference MurmurHash3_x86_32 vectors', () => {
    // Published test vectors for MurmurHash3 x86_32.
    expect(murmur3('', 0)).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('hello', 0)).toBe(0x248bfa47);
    expect(murmur3('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
  });
  it('hashes the UTF-8 bytes TextEncoder gives for any string (non-ASCII, lone surrogates), one string after another', () => {
    const enc = new TextEncoder();
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), { minLength: 1, maxLength: 4 }), (strings) =>
        strings.every((s) => murmur3(s, 7) === murmur3(enc.encode(s), 7) && uniform01('seed', s) === uniform01('seed', String(s))),
      ),
    );
    // A long string after short ones, and a short after long: the reused byte buffer must not leak bytes between them.
    expect(murmur3('é'.repeat(500) + '\ud800', 1)).toBe(murmur3(enc.encode('é'.repeat(500) + '\ud800'), 1));
    expect(murmur3('ab', 1)).toBe(murmur3(enc.encode('ab'), 1));
  });
  it('gives signed 32-bit values for Prodigy', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const h = signed32(murmur3(s));
        return Number.isInteger(h) && h >= -2147483648 && h <= 2147483647;
      }),
    );
  });
  it('uniform01 stays in [0, 1) and depends on the seed', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (seed, id) => {
        const u = uniform01(seed, id);
        return u >= 0 && u < 1;
      }),
    );
    expect(uniform01('a', 'x')).not.toBe(uniform01('b', 'x'));
  });
});

const entry = (over: Partial<ScoredEntry['record']> = {}): ScoredEntry => ({
  id: 'item-1',
  score: 0.9,
  u: 0.5,
  source: { object: 'gs://b/p/predictions/a.jsonl', line: 3 },
  record: { id: 'item-1', text: 'Refund for Acme please', probs: { billing: 0.41, shipping: 0.39, other: 0.2 }, model: 'v1', ...over },
});
const ctx = (over: Partial<TaskContext> = {}): TaskContext => ({
  project: 'p',
  round: 'R1',
  task: 'textcat',
  view: 'choice',
  labels: ['billing', 'shipping', 'other'],
  strategy: 'entropy',
  acceptThreshold: 0.5,
  ...over,
});

describe('queue tasks', () => {
  it('derive hashes from project + item id, not from media URLs or rounds', () => {
    const a = buildTask(ctx({ round: 'R1' }), { entry: entry({ image: 'https://signed/1?X-Goog-Signature=aaa' }), rank: 1, audit: false });
    const b = buildTask(ctx({ round: 'R2' }), { entry: entry({ image: 'https://signed/1?X-Goog-Signature=bbb' }), rank: 7, audit: false });
    expect(a._input_hash).toBe(b._input_hash);
    expect(a._task_hash).toBe(b._task_hash);
    expect(a._input_hash).toBe(inputHash('p', 'item-1'));
    expect(inputHash('q', 'item-1')).not.toBe(inputHash('p', 'item-1'));
    // A different question about the same input gets a different task hash.
    expect(taskHash(inputHash('p', 'item-1'), 'classification', ['billing'], 'billing')).not.toBe(a._task_hash);
  });

  it('writes a choice task with options, the model pre-selection and readable meta', () => {
    const t = buildTask(ctx(), { entry: entry(), rank: 4, audit: false });
    expect(t.options).toEqual([
      { id: 'billing', text: 'billing' },
      { id: 'shipping', text: 'shipping' },
      { id: 'other', text: 'other' },
    ]);
    expect(t.accept).toEqual(['billing']);
    expect(t.meta).toMatchObject({
      id: 'item-1',
      round: 'R1',
      rank: 4,
      strategy: 'entropy',
      model: 'v1',
      audit: false,
      predicted: 'billing',
      reason: 'billing 0.41 vs shipping 0.39',
      source: 'gs://b/p/predictions/a.jsonl#L3',
    });
    expect(Object.keys(t).slice(-3)).toEqual(['meta', '_input_hash', '_task_hash']);
  });

  it('marks audit items with their inclusion probability', () => {
    const t = buildTask(ctx(), { entry: entry(), rank: 2, audit: true, p: 0.25 });
    expect(t.meta).toMatchObject({ audit: true, p: 0.25, reason: 'random audit sample (p=0.25)' });
  });

  it('writes ner_manual tasks whose spans align with tokens (inclusive token_end)', () => {
    const rec = { text: 'Refund for Acme please', spans: [{ start: 11, end: 15, label: 'ORG', score: 0.4 }], probs: undefined };
    const t = buildTask(ctx({ task: 'ner', view: 'ner_manual', labels: ['ORG'] }), { entry: entry(rec), rank: 1, audit: false });
    expect(t.spans).toEqual([{ start: 11, end: 15, label: 'ORG', token_start: 2, token_end: 2 }]);
    expect((t.tokens as Array<{ text: string }>).map((x) => x.text)).toEqual(['Refund', 'for', 'Acme', 'please']);
    expect((t.meta as { reason: string }).reason).toBe('least confident span "Acme" ORG 0.40');
  });
});

describe('tokenize', () => {
  it('splits words and punctuation with offsets and ws flags', () => {
    const toks = tokenize('Hi, Acme Ltd.');
    expect(toks.map((t) => [t.text, t.start, t.end, t.ws])).toEqual([
      ['Hi', 0, 2, false],
      [',', 2, 3, true],
      ['Acme', 4, 8, true],
      ['Ltd', 9, 12, false],
      ['.', 12, 13, false],
    ]);
  });
  it('always aligns spans it was given, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 2, maxLength: 40 }), fc.nat(), fc.nat(), (text, a, b) => {
        const start = a % (text.length - 1);
        const end = start + 1 + (b % (text.length - start));
        const slice = text.slice(start, end);
        fc.pre(slice.trim() === slice && slice.length > 0 && !/\s/.test(slice));
        const toks = tokenize(text, [{ start, end }]);
        return tokenRange(toks, { start, end }) !== null;
      }),
    );
  });
});
