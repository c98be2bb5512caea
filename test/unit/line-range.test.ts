import { mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reject } from '../../scoring/types.js';
import { planRanges, readRangeLines } from '../../worker/sources/line-range.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { scoreSources, type ScoreParams } from '../../worker/pool/score-run.js';
import type { Source } from '../../worker/sources/sources.js';

const LABELS = ['a', 'b'];
const MAX_LINE = 120;
const dir = mkdtempSync(join(tmpdir(), 'rl-range-'));
let pool: ScoringPool;

beforeAll(() => {
  pool = new ScoringPool({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

// Lines of every kind the two paths must agree on: fast-path records, records the general path
// reads, bad ones, blank ones, and lines past the size limit.
const line = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 1000 }))
    .map(([i, p]) => `{"id":"r${i}","text":"t","probs":{"a":${p / 1000},"b":${(1000 - p) / 1000}}}`),
  fc.integer({ min: 0, max: 99 }).map((i) => `{"text":"t","probs":{"a":0.5,"b":0.5},"id":"s${i}","meta":{"x":1}}`),
  fc.constantFrom('', '   ', '{"id":"x"', 'not json', '{"id":"bad","text":"t","probs":{"a":0.9,"b":0.9}}', '\r'),
  fc.integer({ min: MAX_LINE - 5, max: MAX_LINE * 3 }).map((n) => `{"id":"long","text":"${'x'.repeat(n)}","probs":{"a":1,"b":0}}`),
);

const params = (chunkBytes: number): ScoreParams => ({
  task: 'textcat',
  labels: LABELS,
  strategy: { name: 'margin', seed: 's' },
  topK: 7,
  auditK: 3,
  keepEmbedding: false,
  maxLineBytes: MAX_LINE,
  probTolerance: 1e-3,
  chunkBytes,
  format: 'auto',
});

async function run(source: Source, chunkBytes: number) {
  const rejects: Reject[] = [];
  const r = await scoreSources([source], params(chunkBytes), pool, {
    onRejects: (rs) => {
      rejects.push(...rs);
    },
  });
  const view = (es: typeof r.top) => es.map((e) => [e.id, e.score, e.source.line]);
  return { top: view(r.top), audit: view(r.audit), stats: r.stats, rejects: rejects.map((x) => [x.line, x.reason]) };
}

describe('byte ranges of a local file', () => {
  it('own every line exactly once, whatever the range size', () => {
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 40 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 4 }),
        (lines, trailing, rangeBytes, threads) => {
          const text = lines.join('\n') + (trailing && lines.length > 0 ? '\n' : '');
          const file = join(dir, 'own.jsonl');
          writeFileSync(file, text);
          const size = statSync(file).size;
          const owned: string[] = [];
          let lineCount = 0;
          const ranges = planRanges(file, size, rangeBytes, undefined, threads);
          // Contiguous, none longer than asked, the tail cut smaller only when threads are given.
          ranges.forEach((r, i) => {
            expect(r.start).toBe(i === 0 ? 0 : ranges[i - 1].end);
            expect(r.end - r.start).toBeLessThanOrEqual(rangeBytes);
          });
          if (size > 0) expect(ranges.at(-1)!.end).toBe(size);
          if (threads === 0) expect(ranges.length).toBe(Math.ceil(size / rangeBytes));
          for (const r of ranges) {
            const got = readRangeLines(r, MAX_LINE);
            const body = Buffer.from(got.bytes).toString();
            const split = body.length === 0 ? [] : body.replace(/\n$/, '').split('\n');
            if (got.oversizedLine > 0) {
              expect(got.oversizedLine).toBe(split.length + 1);
              split.push('<oversized>');
            }
            owned.push(...split);
            lineCount += split.length;
          }
          const expected = text.length === 0 ? [] : text.replace(/\n$/, '').split('\n');
          expect(lineCount).toBe(expected.length);
          owned.forEach((l, i) => {
            if (l !== '<oversized>') expect(l).toBe(expected[i]);
            else expect(Buffer.byteLength(expected[i])).toBeGreaterThan(MAX_LINE);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('score exactly as streaming the same bytes does: entries, line numbers, rejects, stats (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 60 }), fc.boolean(), fc.integer({ min: 1, max: 600 }), async (lines, trailing, chunkBytes) => {
        const text = lines.join('\n') + (trailing ? '\n' : '');
        const file = join(dir, 'p.jsonl');
        writeFileSync(file, text);
        const ranged = await run(
          { uri: 'p.jsonl', name: 'p.jsonl', path: file, size: statSync(file).size, open: () => Readable.from([Buffer.from(text)]) },
          chunkBytes,
        );
        const streamed = await run({ uri: 'p.jsonl', name: 'p.jsonl', open: () => Readable.from([Buffer.from(text)]) }, 4096);
        expect(ranged).toEqual(streamed);
      }),
      { numRuns: 120 },
    );
  }, 120_000);

  it('check the generation a round pinned: a replaced or deleted object fails with NOT_FOUND, as the store does', async () => {
    const file = join(dir, 'g.jsonl');
    writeFileSync(file, '{"id":"a","text":"t","probs":{"a":0.5,"b":0.5}}\n');
    const st = statSync(file, { bigint: true });
    const source = (generation: string) => ({ uri: 'g.jsonl', name: 'g.jsonl', path: file, size: Number(st.size), generation, open: () => Readable.from([]) });
    expect((await scoreSources([source(st.mtimeNs.toString())], params(1 << 20), pool)).stats.scored).toBe(1);
    await expect(scoreSources([source((st.mtimeNs - 1n).toString())], params(1 << 20), pool)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('changed since the round was planned'),
    });
    unlinkSync(file);
    await expect(scoreSources([source(st.mtimeNs.toString())], params(1 << 20), pool)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
