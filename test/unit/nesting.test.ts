import { Readable } from 'node:stream';
import { serialize } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_NESTING_DEPTH, mayNestDeeperThan, nestingViolation } from '../../scoring/nesting.js';
import type { Reject } from '../../scoring/types.js';
import { ScoringPool, decodeResult } from '../../worker/pool/pool.js';
import { scoreSources, type ScoreParams } from '../../worker/pool/score-run.js';

const nested = (depth: number, open = '{"m":', close = '}') => `${open.repeat(depth - 1)}1${close.repeat(depth - 1)}`;
const line = (id: string, meta: string) => `{"id":"${id}","text":"t","probs":{"a":0.3,"b":0.7},"meta":${meta}}`;

describe('nestingViolation', () => {
  const check = (text: string) => (mayNestDeeperThan(text) ? nestingViolation(JSON.parse(text)) : null);

  it('accepts a line at the limit and names the top-level field of one past it', () => {
    // The record object is level 1, so meta may nest MAX - 1 levels (nested(n) nests n - 1).
    expect(check(line('a', nested(MAX_NESTING_DEPTH)))).toBeNull();
    expect(check(line('a', nested(MAX_NESTING_DEPTH + 1)))).toEqual({ field: 'meta', reason: `nested more than ${MAX_NESTING_DEPTH} levels deep` });
    expect(check(nested(1000, '[', ']'))).toMatchObject({ field: null });
  });

  it('skips lines with too few brackets to nest that deep, and is not fooled by brackets inside strings', () => {
    expect(mayNestDeeperThan(line('a', nested(MAX_NESTING_DEPTH - 1)))).toBe(false);
    const text = `{"id":"x","text":"${'{['.repeat(500)}","probs":{"a":1}}`;
    expect(mayNestDeeperThan(text)).toBe(true);
    expect(check(text)).toBeNull();
  });

  it('finds depth anywhere: in arrays of objects, past shallow siblings', () => {
    const meta = `{"a":1,"b":[{"c":[${nested(MAX_NESTING_DEPTH, '[', ']')}]}]}`;
    expect(check(`{"id":"x","spans":[],"meta":${meta}}`)).toMatchObject({ field: 'meta' });
  });
});

describe('a deeply nested prediction line', () => {
  let pool: ScoringPool;
  beforeAll(() => {
    pool = new ScoringPool({ threads: 1 });
  });
  afterAll(async () => {
    await pool.close();
  });

  const params: ScoreParams = {
    task: 'textcat',
    labels: ['a', 'b'],
    strategy: { name: 'margin', seed: 's' },
    topK: 10,
    auditK: 2,
    keepEmbedding: false,
    maxLineBytes: 1 << 20,
    probTolerance: 1e-3,
    chunkBytes: 1 << 16,
    format: 'auto',
  };

  it.each([3_000, 100_000])('is rejected with its field at %i levels while the other lines are scored', async (depth) => {
    const text = `${line('ok1', '{}')}\n${line('deep', nested(depth))}\n${line('ok2', '{"x":[1,2]}')}\n`;
    const rejects: Reject[] = [];
    const r = await scoreSources(
      [{ uri: 'mem://deep.jsonl', name: 'deep.jsonl', size: text.length, open: () => Readable.from([Buffer.from(text)]) }],
      params,
      pool,
      {
        onRejects: (rs) => {
          rejects.push(...rs);
        },
      },
    );
    expect(rejects).toEqual([{ object: 'mem://deep.jsonl', line: 2, field: 'meta', reason: `nested more than ${MAX_NESTING_DEPTH} levels deep` }]);
    expect(r.top.map((e) => e.id).sort()).toEqual(['ok1', 'ok2']);
    expect(r.stats).toMatchObject({ read: 3, scored: 2, rejected: 1 });
  });
});

describe('scoring pool delivery', () => {
  it('turns a result this thread cannot deserialize into a typed failure', () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 3_000; i++) deep = { m: deep };
    const out = decodeResult(serialize({ ok: true, top: [deep], audit: [], rejects: [] }), () => 'mem://x line 1');
    expect(out).toMatchObject({ ok: false, code: 'RESULT_UNDELIVERABLE' });
  });

  it('fails a task that does not answer in time with TASK_TIMEOUT', async () => {
    // 1 ms is less than a thread takes to start, so the first task cannot answer in time.
    const pool = new ScoringPool({ threads: 1, taskTimeoutMs: 1 });
    try {
      const chunk = new TextEncoder().encode(`${line('a', '{}')}\n`);
      const out = await pool.score({
        kind: 'score-chunk',
        object: 'mem://t.jsonl',
        format: 'auto',
        chunk,
        firstLine: 1,
        task: 'textcat',
        labels: ['a', 'b'],
        strategy: { name: 'margin', seed: 's' },
        topK: 1,
        auditK: 0,
        probTolerance: 1e-3,
        keepEmbedding: false,
        maxLineBytes: 1 << 16,
      });
      expect(out).toMatchObject({ ok: false, code: 'TASK_TIMEOUT' });
    } finally {
      await pool.close();
    }
  });
});
