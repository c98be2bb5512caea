import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reject } from '../../scoring/types.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { scoreSources, type QuarantinedSource, type ScoreParams } from '../../worker/pool/score-run.js';
import { decompressed, type Source } from '../../worker/sources/sources.js';

const LABELS = ['a', 'b'];
const dir = mkdtempSync(join(tmpdir(), 'rl-quarantine-'));
let pool: ScoringPool;

beforeAll(() => {
  pool = new ScoringPool({ threads: 2 });
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `n` valid native records with distinct ids and scores. */
function records(prefix: string, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const p = ((i * 37) % 1000) / 1000;
    out += `{"id":"${prefix}${i}","text":"t${i}","probs":{"a":${p},"b":${Math.round((1 - p) * 1000) / 1000}}}\n`;
  }
  return out;
}

const params = (chunkBytes = 4096): ScoreParams => ({
  task: 'textcat',
  labels: LABELS,
  strategy: { name: 'margin', seed: 's' },
  topK: 5000,
  auditK: 0,
  keepEmbedding: false,
  maxLineBytes: 1 << 16,
  probTolerance: 1e-3,
  chunkBytes,
  format: 'auto',
});

/** A source streaming `bytes` in pieces of `piece` bytes (how the network might deliver them). */
function memSource(name: string, bytes: Buffer, piece = bytes.length): Source {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += Math.max(1, piece)) parts.push(bytes.subarray(i, i + piece));
  return { uri: `mem://${name}`, name, size: bytes.length, open: () => Readable.from(parts) };
}

async function run(sources: Source[], chunkBytes?: number, quarantine = true) {
  const rejects: Reject[] = [];
  const quarantined: QuarantinedSource[] = [];
  const r = await scoreSources(sources, params(chunkBytes), pool, {
    onRejects: (rs) => {
      rejects.push(...rs);
    },
    ...(quarantine
      ? {
          onQuarantine: (q: QuarantinedSource) => {
            quarantined.push(q);
          },
        }
      : {}),
  });
  return { ids: r.top.map((e) => e.id).sort(), stats: r.stats, rejects, quarantined };
}

const good = records('g', 300);
const gz = gzipSync(Buffer.from(records('z', 3000)));

describe('decompressed', () => {
  it('names the case of a broken gzip object in details.unreadable', async () => {
    const drain = async (b: Buffer, name: string) => {
      for await (const _ of decompressed(Readable.from([b]), name)) {
        /* drain */
      }
    };
    await expect(drain(gz.subarray(0, gz.length - 50), 'x.jsonl.gz')).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      details: { unreadable: 'GZIP_TRUNCATED' },
    });
    await expect(drain(Buffer.concat([gz, Buffer.from('trailing junk\n')]), 'x.jsonl.gz')).rejects.toMatchObject({
      code: 'INPUT_INVALID',
      details: { unreadable: 'GZIP_INVALID' },
    });
    await expect(drain(Buffer.from(good), 'x.jsonl.gz')).rejects.toMatchObject({ code: 'INPUT_INVALID', details: { unreadable: 'GZIP_INVALID' } });
  });

  it('outputs the same bytes before a break however the input is split', async () => {
    const broken = Buffer.concat([gz.subarray(0, gz.length - 10), Buffer.from('junk')]);
    const outputs = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20_000 }), async (piece) => {
        const parts: Buffer[] = [];
        for (let i = 0; i < broken.length; i += piece) parts.push(broken.subarray(i, i + piece));
        let n = 0;
        await expect(
          (async () => {
            for await (const c of decompressed(Readable.from(parts), 'x.gz')) n += c.length;
          })(),
        ).rejects.toMatchObject({ code: 'INPUT_INVALID' });
        outputs.add(String(n));
      }),
      { numRuns: 25 },
    );
    expect(outputs.size).toBe(1);
  });
});

describe('scoreSources with quarantine', () => {
  it('keeps the lines before a truncation, quarantines the object at the broken line, and reads the next object', async () => {
    const truncated = gz.subarray(0, Math.floor(gz.length * 0.6));
    const r = await run([memSource('a.jsonl', Buffer.from(good)), memSource('b.jsonl.gz', truncated), memSource('c.jsonl', Buffer.from(records('c', 100)))]);
    expect(r.quarantined).toHaveLength(1);
    const q = r.quarantined[0];
    expect(q).toMatchObject({ code: 'GZIP_TRUNCATED', source: { uri: 'mem://b.jsonl.gz' } });
    const kept = r.ids.filter((id) => id.startsWith('z')).length;
    // Every line before the break is kept; the break line is the first one not read.
    expect(kept).toBe(q.line - 1);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(3000);
    expect(r.ids.filter((id) => id.startsWith('g'))).toHaveLength(300);
    expect(r.ids.filter((id) => id.startsWith('c'))).toHaveLength(100);
    const objectLines = r.rejects.filter((x) => x.code !== undefined);
    expect(objectLines).toEqual([{ object: 'mem://b.jsonl.gz', line: q.line, field: null, reason: q.reason, code: 'GZIP_TRUNCATED' }]);
    expect(r.stats.read).toBe(400 + kept);
  });

  it('quarantines the same object at the same line whatever the network chunking and chunk size', async () => {
    const broken = Buffer.concat([gz.subarray(0, gz.length - 8), Buffer.from('not a gzip member\n')]);
    const seen = new Set<string>();
    for (const [piece, chunkBytes] of [
      [1 << 20, 4096],
      [1000, 4096],
      [333, 65536],
      [77_777, 1024],
    ]) {
      const r = await run([memSource('b.jsonl.gz', broken, piece)], chunkBytes);
      expect(r.quarantined).toHaveLength(1);
      seen.add(JSON.stringify({ ids: r.ids, line: r.quarantined[0].line, code: r.quarantined[0].code, stats: r.stats.read }));
    }
    expect(seen.size).toBe(1);
  });

  it('quarantines a .gz that is not gzip at line 1 and keeps nothing from it', async () => {
    const r = await run([memSource('x.jsonl.gz', Buffer.from(records('x', 50))), memSource('a.jsonl', Buffer.from(good))]);
    expect(r.quarantined).toMatchObject([{ line: 1, code: 'GZIP_INVALID' }]);
    expect(r.ids.filter((id) => id.startsWith('x'))).toHaveLength(0);
    expect(r.ids).toHaveLength(300);
  });

  it('quarantines a local file that disappeared after planning (OBJECT_GONE) and a corrupt Arrow file', async () => {
    const gone = join(dir, 'gone.jsonl');
    const arrow = join(dir, 'bad.arrow');
    writeFileSync(arrow, Buffer.from('ARROW1\0\0 this is not arrow'));
    const local = (path: string, name: string, generation?: string): Source => ({
      uri: path,
      name,
      path,
      size: 100,
      ...(generation ? { generation } : {}),
      open: () => {
        throw new Error('unused');
      },
    });
    const r = await run([local(gone, 'gone.jsonl', '1'), local(arrow, 'bad.arrow'), memSource('a.jsonl', Buffer.from(good))]);
    expect(r.quarantined.map((q) => q.code)).toEqual(['OBJECT_GONE', 'OBJECT_INVALID']);
    expect(r.ids).toHaveLength(300);
  });

  it('fails the run when no quarantine hook is given', async () => {
    await expect(run([memSource('b.jsonl.gz', gz.subarray(0, 100))], undefined, false)).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});

describe('scoreSources with failures inside the pool', () => {
  /** The real pool, except that chunks of `object` from line `from` on answer `code`. */
  const failing = (object: string, from: number, code: string): ScoringPool =>
    Object.assign(Object.create(pool) as ScoringPool, {
      score: (input: Parameters<ScoringPool['score']>[0]) =>
        'firstLine' in input && input.object === object && input.firstLine >= from
          ? Promise.resolve({ ok: false as const, code, message: `stub ${code}` })
          : pool.score(input),
    });

  it('quarantines an object whose result cannot be delivered, at that chunk, keeping earlier chunks', async () => {
    const rejects: Reject[] = [];
    const quarantined: QuarantinedSource[] = [];
    const r = await scoreSources(
      [memSource('u.jsonl', Buffer.from(records('u', 500)), 1000), memSource('a.jsonl', Buffer.from(good))],
      params(2048),
      failing('mem://u.jsonl', 100, 'RESULT_UNDELIVERABLE'),
      {
        onRejects: (rs) => {
          rejects.push(...rs);
        },
        onQuarantine: (q) => {
          quarantined.push(q);
        },
      },
    );
    expect(quarantined).toHaveLength(1);
    const q = quarantined[0];
    expect(q.code).toBe('RESULT_UNDELIVERABLE');
    // Everything before the failing chunk is kept, nothing from it on.
    expect(r.top.filter((e) => e.id.startsWith('u')).length).toBe(q.line - 1);
    expect(q.line).toBeGreaterThanOrEqual(100);
    expect(r.top.filter((e) => e.id.startsWith('g'))).toHaveLength(300);
    expect(rejects.filter((x) => x.code !== undefined)).toHaveLength(1);
  });

  it('fails the run on a task timeout: it may pass on a retry, so it is not quarantined', async () => {
    await expect(
      scoreSources([memSource('t.jsonl', Buffer.from(records('t', 500)))], params(2048), failing('mem://t.jsonl', 1, 'TASK_TIMEOUT'), {
        onQuarantine: () => undefined,
      }),
    ).rejects.toMatchObject({ code: 'SCORING_FAILED', details: { code: 'TASK_TIMEOUT' } });
  });
});

describe('a local Arrow file with a corrupt record batch, scored batch by batch in the pool', () => {
  /** Eight record batches of 50 rows; the metadata of batch `bad` (0-based) is overwritten. */
  async function corruptArrow(path: string, bad: number): Promise<void> {
    const { Float64, Table, tableToIPC, Utf8, vectorFromArray } = await import('apache-arrow');
    const ids = Array.from({ length: 400 }, (_, i) => `r${Math.floor(i / 50)}-${i % 50}`);
    const a = Float64Array.from({ length: 400 }, (_, i) => ((i * 7) % 100) / 100);
    // Plain Utf8, not dictionaries: every message after the schema is then a record batch.
    const all = new Table({
      id: vectorFromArray(ids, new Utf8()),
      text: vectorFromArray(
        ids.map((x) => `t ${x}`),
        new Utf8(),
      ),
      a: vectorFromArray([...a], new Float64()),
      b: vectorFromArray(
        [...a].map((x) => 1 - x),
        new Float64(),
      ),
    });
    const batches = Array.from({ length: 8 }, (_, b) => all.slice(b * 50, (b + 1) * 50).batches[0]);
    const bytes = Buffer.from(tableToIPC(new Table(batches), 'file'));
    // Each IPC message starts with the continuation marker 0xFFFFFFFF, then its metadata length; batch `bad` or a neighbour is hit.
    const marker = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const marks: number[] = [];
    for (let i = bytes.indexOf(marker); i !== -1; i = bytes.indexOf(marker, i + 4)) marks.push(i);
    expect(marks.length).toBeGreaterThanOrEqual(9);
    bytes.writeInt32LE(0x7fffff00, marks[1 + bad] + 4);
    writeFileSync(path, bytes);
  }

  it('keeps the batches before the corrupt one whatever the task grouping (thread count)', async () => {
    const path = join(dir, 'batches.arrow');
    await corruptArrow(path, 4);
    const source: Source = {
      uri: path,
      name: 'batches.arrow',
      path,
      size: 1 << 20,
      open: () => {
        throw new Error('unused');
      },
    };
    const seen = new Set<string>();
    for (const threads of [1, 2, 3]) {
      const p = new ScoringPool({ threads });
      try {
        const quarantined: QuarantinedSource[] = [];
        const r = await scoreSources([source], { ...params(), arrowParallelMinBytes: 0 }, p, {
          onQuarantine: (q) => {
            quarantined.push(q);
          },
        });
        expect(quarantined.map((q) => q.code)).toEqual(['OBJECT_INVALID']);
        const ids = r.top.map((e) => e.id).sort();
        // Whole batches before the corrupt one are kept; the break is the first row not read.
        expect(ids.length % 50).toBe(0);
        expect(ids.length).toBeGreaterThanOrEqual(200);
        expect(ids.length).toBeLessThan(400);
        expect(quarantined[0].line).toBe(ids.length + 1);
        seen.add(JSON.stringify({ ids, stats: r.stats }));
      } finally {
        await p.close();
      }
    }
    expect(seen.size).toBe(1);
  });
});
