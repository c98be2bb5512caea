import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scoreChunkSync } from '../../scoring/chunk.js';
import { parseFastBytes } from '../../scoring/fast/fast-bytes.js';
import { fastLineScratch, parseFastLine } from '../../scoring/fast/fast-line.js';
import { exclusionKey } from '../../scoring/hash.js';
import type { ScoreChunkInput, StrategyName, TaskType } from '../../scoring/types.js';
import { loadNativeScan } from '../../worker/core/native.js';
import { NATIVE, NEEDS_NATIVE } from '../helpers/native.js';

// The native line scanner (native/line-scan.c), built by `npm run build`; every property below runs it too when it is in use.
const nativeScan = loadNativeScan();

const LABELS = ['pos', 'neg', 'neutral'];

function input(lines: string[] | Uint8Array, task: TaskType = 'textcat', name: StrategyName = 'entropy'): ScoreChunkInput {
  return {
    kind: 'score-chunk',
    chunk: lines instanceof Uint8Array ? lines : new TextEncoder().encode(lines.join('\n')),
    object: 'o',
    firstLine: 1,
    format: 'auto',
    task,
    labels: LABELS,
    strategy: { name, seed: 's' },
    topK: 50,
    auditK: 3,
    keepEmbedding: false,
    maxLineBytes: 1 << 20,
    probTolerance: 1e-3,
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
    ])
      expect(parseFastLine(bad, s), bad).toBe(false);
    expect(fastLineScratch(['0', 'b'], true, 1e-3)).toBeNull();
    expect(fastLineScratch(['__proto__'], true, 1e-3)).toBeNull();
  });

  it('gives the same result as the general path, line for line (property)', () => {
    const num = fc.oneof(
      fc.double({ min: 0, max: 1, noNaN: true }).map((x) => JSON.stringify(x)),
      fc.integer({ min: 0, max: 999999 }).map((x) => `0.${String(x).padStart(6, '0')}`),
      fc.constantFrom('0', '1', '1e-3', '0.5E0', '-0', '-0.1', '1.0000000000000002', '0.12345678901234567', '2'),
    );
    const line = fc
      .record({
        id: fc.string({ minLength: 0, maxLength: 6 }),
        text: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
        model: fc.option(fc.constantFrom('m1', 'm2'), { nil: undefined }),
        probs: fc.uniqueArray(fc.tuple(fc.constantFrom(...LABELS), num), { selector: (t) => t[0], maxLength: 3 }),
        order: fc.constantFrom(0, 1, 2),
        space: fc.constantFrom('', ' '),
      })
      .map((r) => {
        const parts = [`"id":${JSON.stringify(r.id)}`, `"probs":{${r.probs.map(([l, v]) => `"${l}":${r.space}${v}`).join(',')}}`];
        if (r.text !== undefined) parts.push(`"text":${JSON.stringify(r.text)}`);
        if (r.model !== undefined) parts.push(`"model":${JSON.stringify(r.model)}`);
        for (let i = 0; i < r.order; i++) parts.push(parts.shift()!);
        return `{${parts.join(`,${r.space}`)}}`;
      });
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 30 }),
        fc.constantFrom<TaskType>('textcat', 'textcat-multilabel'),
        fc.constantFrom<StrategyName>('entropy', 'margin', 'multilabel-entropy'),
        (lines, task, name) => {
          const fast = scoreChunkSync(input(lines, task, name));
          const slow = scoreChunkSync(input(lines.map(slowTwin), task, name));
          const strip = (r: typeof fast) => JSON.stringify({ ...r, rejects: r.rejects.map((x) => [x.line, x.field, x.id]) });
          expect(strip(fast)).toBe(strip(slow));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('accepts from bytes exactly what it accepts from the decoded line', () => {
    const s = fastLineScratch(LABELS, true, 1e-3)!;
    const enc = new TextEncoder();
    for (const line of [
      '{"id":"a","text":"t","probs":{"pos":0.25,"neg":0.75}}',
      ' { "probs" : { "neg" : 1e-1 , "pos":0.9 } , "text":"x" ,"id":"b" , "model":"m"} \r',
      '{"id":"é😀","text":"\u2028ü","probs":{"pos":1}}',
      '{"id":"a","text":"t","probs":{"pos":1E0}}',
      '{"id":"a","text":"t","probs":{"pos":-0}}',
      '{"id":"a","text":"t","probs":{"pos":0.5,"neg":0.5}} x',
    ]) {
      const bytes = enc.encode(line);
      expect(parseFastBytes(bytes, 0, bytes.length, s) !== -1, line).toBe(parseFastLine(line, s));
    }
    // Malformed UTF-8 inside a string: the string path (which rejects the line) decides.
    const bad = Uint8Array.from([...enc.encode('{"id":"a","text":"'), 0xc3, ...enc.encode('","probs":{"pos":1}}')]);
    expect(parseFastBytes(bad, 0, bad.length, s)).toBe(-1);
  });

  it('matches JSON.parse + normalizeRecord on arbitrary bytes: escapes, unicode, numbers, duplicates, whitespace, bad UTF-8 (property)', () => {
    const digits = (min: number, max: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));
    const num = fc.oneof(
      fc.double({ min: 0, max: 1, noNaN: true }).map((x) => JSON.stringify(x)),
      fc
        .tuple(digits(0, 25), fc.integer({ min: -30, max: 30 }), fc.constantFrom('e', 'E', 'e+'), fc.boolean())
        .map(([d, e, mark, neg]) => `${neg ? '-' : ''}0.${d || '0'}${e === 0 ? '' : `${mark}${e}`}`),
      fc.tuple(digits(1, 20), fc.integer({ min: -40, max: 0 })).map(([d, e]) => `${d.replace(/^0+(?=\d)/, '')}e${e}`),
      fc.constantFrom(
        '0',
        '1',
        '-0',
        '-0.0',
        '0.0e0',
        '1e400',
        '1e-400',
        '0.1e1',
        '2',
        '01',
        '1.',
        '.5',
        '+1',
        '1e',
        '-',
        '0x1',
        'NaN',
        '"0.5"',
        'null',
        '0.30000000000000004',
        '0.1000000000000000055511151231257827',
        '0.99999999999999999999',
        '4.9e-324',
        '9007199254740993e-16',
        // Mantissas either side of 2^53 and of 19 digits, with leading and trailing zeros: where an integer accumulator could part from a double one.
        '9007199254740991e-16',
        '9007199254740992e-16',
        '0.0000000000000000000001234',
        '0.1000000000000000000000',
        '1234567890123456789e-19',
        '12345678901234567890e-20',
        '0.000000000000000000000000000000000001e30',
        '1.0000000000000000000000000000001',
      ),
    );
    const str = fc.oneof(
      fc.string({ maxLength: 6 }).map((x) => JSON.stringify(x)),
      fc.string({ unit: 'binary', maxLength: 6 }).map((x) => JSON.stringify(x)),
      fc.constantFrom('"a\\"b"', '"\\u0041"', '"tab\there"', '"\ufeffbom"', '"é"', '""', '7', 'null', '"a\\\\"', '"x'),
    );
    const key = fc.constantFrom('id', 'text', 'probs', 'model', 'meta', 'i\\u0064', 'ID');
    const ws = fc.constantFrom('', ' ', '\t', '\r', ' \t ');
    const member = fc.oneof(
      { arbitrary: fc.tuple(fc.constantFrom('id', 'text', 'model'), str), weight: 6 },
      {
        arbitrary: fc.tuple(
          fc.constant('probs'),
          fc.array(fc.tuple(fc.constantFrom(...LABELS, 'po', 'other'), num), { maxLength: 4 }).map((ps) => `{${ps.map(([l, v]) => `"${l}":${v}`).join(',')}}`),
        ),
        weight: 4,
      },
      { arbitrary: fc.tuple(key, fc.oneof(str, num, fc.constant('{"a":[1,{"b":"}"}]}'))), weight: 1 },
    );
    const line = fc
      .tuple(fc.array(member, { minLength: 0, maxLength: 6 }), ws, ws)
      .map(([ms, a, b]) => `${a}{${ms.map(([k, v]) => `${a}"${k}"${b}:${a}${v}`).join(`,${b}`)}}${b}`);
    const base = fc
      .record({ id: str, text: str, p: fc.array(num, { minLength: 3, maxLength: 3 }), model: str })
      .map((r) => `{"id":${r.id},"text":${r.text},"probs":{"pos":${r.p[0]},"neg":${r.p[1]},"neutral":${r.p[2]}},"model":${r.model}}`);
    const good = fc
      .tuple(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e6 }), fc.string({ unit: 'grapheme', maxLength: 5 }))
      .map(([a, b, id]) => {
        const t = a + b || 1;
        return `{"id":${JSON.stringify(`i${id}`)},"text":"t","probs":{"pos":${a / t},"neg":${b / t}}}`;
      });
    // Byte-level damage: a stray continuation byte, a truncated sequence, a raw control character, a lone high byte.
    const damage = fc.option(
      fc.tuple(fc.nat(), fc.constantFrom([0x80], [0xc3], [0xe2, 0x82], [0x01], [0x09], [0xff], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf])),
      { nil: undefined },
    );
    const enc = new TextEncoder();
    const chunkOf = (lines: Array<[string, [number, readonly number[]] | undefined]>, crlf: boolean): Uint8Array => {
      const parts: number[] = [];
      for (const [l, d] of lines) {
        const bytes = Array.from(enc.encode(l));
        if (d !== undefined) bytes.splice(d[0] % (bytes.length + 1), 0, ...d[1]);
        parts.push(...bytes, ...(crlf ? [0x0d, 0x0a] : [0x0a]));
      }
      return Uint8Array.from(parts);
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(line, base, good, fc.constant('')), damage), { minLength: 1, maxLength: 25 }),
        fc.boolean(),
        fc.constantFrom<TaskType>('textcat', 'textcat-multilabel'),
        fc.constantFrom<StrategyName>('entropy', 'margin', 'least-confidence', 'multilabel-entropy'),
        fc.constantFrom(0, 2),
        fc.option(fc.double({ min: 0, max: 1.2, noNaN: true }), { nil: undefined }),
        fc.constantFrom('s', 'é😀', '\ud800', ''),
        fc.boolean(),
        (lines, crlf, task, name, auditK, topFloor, seed, excluding) => {
          const base = input(chunkOf(lines, crlf), task, name);
          // Every other parseable record's (id, model), and the bare id of one in three: hits of both kinds isExcluded checks.
          const keys: bigint[] = [];
          lines.forEach(([l], x) => {
            try {
              const r = JSON.parse(l) as { id?: unknown; model?: unknown };
              if (typeof r.id !== 'string') return;
              if (x % 2 === 0) keys.push(exclusionKey(r.id, typeof r.model === 'string' ? r.model : undefined));
              if (x % 3 === 0) keys.push(exclusionKey(r.id, undefined));
            } catch {
              /* not JSON: nothing to exclude */
            }
          });
          const exclude = excluding ? BigUint64Array.from([...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) : undefined;
          const inp = { ...base, strategy: { ...base.strategy, seed }, topK: 4, auditK, topFloor, exclude };
          const fast = scoreChunkSync(inp);
          const slow = scoreChunkSync({ ...inp, chunk: inp.chunk.slice() }, { fastPath: false });
          const native = scoreChunkSync({ ...inp, chunk: inp.chunk.slice() }, { nativeScan });
          expect(JSON.stringify(fast)).toBe(JSON.stringify(slow));
          expect(JSON.stringify(native)).toBe(JSON.stringify(slow));
        },
      ),
      { numRuns: 400 },
    );
  });

  it.skipIf(!NATIVE.inUse)(`reads lines of one shape by template exactly as line by line, near misses included${NEEDS_NATIVE}`, () => {
    // The native scanner learns a line's shape (keys, punctuation, whitespace) and reads the next lines by it.
    const shape = (id: string, text: string, a: string, b: string, tail = '') =>
      `{"id":"${id}","text":"${text}","probs":{"pos":${a},"neg":${b}},"model":"m"}${tail}`;
    const lines = [
      shape('a', 't', '0.25', '0.75'),
      shape('b', 'x","probs":{"pos":0.5', '0.5', '0.5'), // the text holds the next literal: the first quote ends it (not JSON)
      shape('c', 't', '0.5e0', '0.5'),
      shape('d', 't', '0.5e', '0.5'), // malformed number in a number slot
      shape('e', 't', '"0.5"', '0.5'), // a string where a number was
      shape('f', 't', '0.2', '0.8', ' '), // trailing space: not the learned tail, still a fast line
      shape('', 't', '0.2', '0.8'), // empty id
      shape('g', 'a\\\\b', '0.2', '0.8'), // an escaped backslash: the general path reads it
      shape('h', 't', '0.9', '0.9'), // sum off
      shape('i', 't', '1', '0', '\r'),
      shape('j', 'é😀', '0.1', '0.9'),
      `{"text":"t","id":"k","probs":{"neg":0.5,"pos":0.5},"model":"m"}`, // another order
      shape('l', 't', '0.3', '0.7'),
      shape('m', 't', '0.3', '0.7', 'x'), // bytes after the learned tail
      shape('n', 't', '0.3', '0.7', '}'),
      shape('o', 't', '0.3', '0.7', ' ,'),
      shape('p', 't', '0.3', '0.7'),
    ];
    const inp = { ...input(lines), topK: 20, auditK: 0 };
    const slow = scoreChunkSync({ ...inp, chunk: inp.chunk.slice() }, { fastPath: false });
    const native = scoreChunkSync({ ...inp, chunk: inp.chunk.slice() }, { nativeScan });
    expect(JSON.stringify(native)).toBe(JSON.stringify(slow));
    expect(native.top.length).toBeGreaterThan(6);
    expect(native.rejects.length).toBeGreaterThan(3);
  });

  it('decodes lines as decoding the whole chunk did (a BOM is dropped at the chunk start, or on every line of a chunk with bad UTF-8)', () => {
    const enc = new TextEncoder();
    const rec = '{"id":"b","text":"t","probs":{"pos":1}}';
    const bom = [0xef, 0xbb, 0xbf];
    const chunk = (bad: boolean) => Uint8Array.from([...bom, ...enc.encode(`${rec}\n`), ...bom, ...enc.encode(`${rec}\n`), ...(bad ? [0xff, 0x0a] : [])]);
    const valid = scoreChunkSync(input(chunk(false)));
    expect(valid.stats.scored).toBe(1);
    expect(valid.rejects.map((r) => r.line)).toEqual([2]);
    const invalid = scoreChunkSync(input(chunk(true)));
    expect(invalid.stats.scored).toBe(2);
    expect(invalid.rejects.map((r) => [r.line, r.reason])).toEqual([[3, 'invalid UTF-8']]);
  });
});
