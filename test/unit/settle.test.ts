import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Field,
  FixedSizeList,
  Float64,
  List,
  makeBuilder,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Utf8,
  type Builder,
  type DataType,
} from 'apache-arrow';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { binIndex, CONFIDENCE_BINS, emptyStats, SCORE_BINS, scoreChunkSync } from '../../scoring/chunk.js';
import { exclusionKey } from '../../scoring/hash.js';
import { SETTLED, settleBatch, settleCounts, foldSettled } from '../../scoring/fast/settle.js';
import { entropy, scoreRange } from '../../scoring/strategies.js';
import { BottomK, TopK } from '../../scoring/topk.js';
import type { ChunkStats, Reject, ScoreChunkInput, ScoredEntry } from '../../scoring/types.js';
import { scoreColumnarSource } from '../../worker/sources/columnar-source.js';
import { loadNativeScan, loadNativeSettle } from '../../worker/core/native.js';
import { forceScalar, NATIVE, NEEDS_NATIVE } from '../helpers/native.js';

const nativeSettle = loadNativeSettle();
const nativeScan = loadNativeScan();
const dir = mkdtempSync(join(tmpdir(), 'rl-settle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => forceScalar(false));
/** Both kernels (AVX2 four rows at a time where the CPU has it, and scalar) must settle the same way. */
const KERNELS = [false, true] as const;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Largest double p in [a, b] with f(p) < target (f increasing there), found by bisection on the doubles themselves. */
function crossing(f: (p: number) => number, target: number, a: number, b: number): number {
  for (let i = 0; i < 200 && b - a > 0; i++) {
    const m = (a + b) / 2;
    if (m === a || m === b) break;
    if (f(m) < target) a = m;
    else b = m;
  }
  return a;
}

/** Next doubles above x. */
function up(x: number, steps: number): number {
  const f = new Float64Array([x]);
  const u = new BigInt64Array(f.buffer);
  u[0] += BigInt(steps);
  return f[0];
}

describe.skipIf(!NATIVE.inUse)(`native row settler${NEEDS_NATIVE}`, () => {
  it.each(KERNELS)('settles only rows whose every decision is the same as JS makes it, even a few ulps from a bin or rounding edge (scalar: %s)', (scalar) => {
    forceScalar(scalar);
    const k = 2;
    const [lo, hi] = scoreRange('entropy', k);
    const h = (p: number) => entropy([p, 1 - p]);
    // Rows sitting on the edges JS decides on: Math.round(h * 1e9) flips at m + 0.5, score bins at lo + b (hi - lo) / 20.
    const ps: number[] = [];
    const targets: number[] = [];
    for (let m = 0; m < 300; m++) targets.push((Math.floor((m + 1) * 2_310_000.37) + 0.5) / 1e9);
    for (let b = 1; b < SCORE_BINS; b++) targets.push(lo + (b * (hi - lo)) / SCORE_BINS);
    for (const t of targets) {
      const p = crossing(h, t, 1e-9, 0.5);
      for (let s = -3; s <= 3; s++) ps.push(up(p, s));
    }
    const r = rng(3);
    for (let i = 0; i < 2000; i++) ps.push(r() * 0.5);
    const n = ps.length;
    const probs = new Float64Array(n * k);
    ps.forEach((p, i) => {
      probs[i * k] = p;
      probs[i * k + 1] = 1 - p;
    });
    const kinds = new Int32Array(n);
    const counts = settleCounts(k, SCORE_BINS, CONFIDENCE_BINS);
    const visit = new Int32Array(n).fill(-1);
    const settled = settleBatch(nativeSettle!, counts, probs, new Uint8Array(0), kinds, 1, n, k, 1e-9, [lo, hi], Infinity, new Float64Array(0), 0, visit);
    // The rows left to JS, listed in order for its loop.
    expect(Array.from(visit.subarray(0, n - settled))).toEqual([...kinds.keys()].filter((i) => kinds[i] !== SETTLED));
    // What JS counts for the same settled rows.
    const want = emptyStats();
    const labelN = new Float64Array(k);
    let nearEdge = 0;
    for (let i = 0; i < n; i++) {
      if (kinds[i] !== SETTLED) {
        nearEdge++;
        continue;
      }
      const s = entropy(probs, i * k, k);
      const best = Math.max(probs[i * k], probs[i * k + 1]);
      want.scored++;
      want.scoreHist[binIndex(s, lo, hi, SCORE_BINS)]++;
      want.confidenceHist[binIndex(best, 0, 1, CONFIDENCE_BINS)]++;
      want.confidenceNano += Math.round(best * 1e9);
      want.entropyNano += Math.round(s * 1e9);
      labelN[probs[i * k + 1] > probs[i * k] ? 1 : 0]++;
    }
    const got = emptyStats();
    const gotN = new Float64Array(k);
    foldSettled(counts, got, gotN);
    expect(got).toEqual(want);
    expect(Array.from(gotN)).toEqual(Array.from(labelN));
    expect(settled).toBe(want.scored);
    // It leaves edge rows to JS and settles nearly all the random ones (the last 2000).
    const edgeRows = ps.length - 2000;
    expect(nearEdge).toBeGreaterThan(0);
    expect(nearEdge).toBeLessThan(edgeRows + 10);
    expect(Array.from(kinds.subarray(edgeRows)).filter((x) => x === SETTLED).length).toBeGreaterThan(1990);
  });

  it.each(KERNELS)('leaves invalid rows, rows that may reach a heap and rows that may be audited to JS (scalar: %s)', (scalar) => {
    forceScalar(scalar);
    const k = 3;
    const range = scoreRange('entropy', k);
    const rows = [
      [0.2, 0.3, 0.5],
      [0.9, 0.05, 0.05],
      [NaN, 0.5, 0.5],
      [-0.1, 0.6, 0.5],
      [0.5, 0.5, 0.5],
      [1 / 3, 1 / 3, 1 / 3],
      [0.98, 0.01, 0.01],
    ];
    const probs = Float64Array.from(rows.flat());
    const n = rows.length;
    const run = (threshold: number, draws = new Float64Array(0), drawFloor = 0) => {
      const kinds = new Int32Array(n);
      settleBatch(
        nativeSettle!,
        settleCounts(k, SCORE_BINS, CONFIDENCE_BINS),
        probs,
        new Uint8Array(0),
        kinds,
        1,
        n,
        k,
        1e-3,
        range,
        threshold,
        draws,
        drawFloor,
        new Int32Array(n),
      );
      return Array.from(kinds);
    };
    // Invalid rows come back 0 (JS rejects them with the reason); valid ones 1 or settled.
    expect(run(Infinity)).toEqual([SETTLED, SETTLED, 0, 0, 0, SETTLED, SETTLED]);
    // Entropies: 1.03, 0.39, 1.10 (uniform), 0.11. Only rows surely below the threshold settle.
    expect(run(1.05)).toEqual([SETTLED, SETTLED, 0, 0, 0, 1, SETTLED]);
    // A heap with room (threshold -Infinity): the batch's own rows never raise it (they may be copies of
    // fewer ids than the heap keeps), so every valid row goes to JS.
    expect(run(-Infinity)).toEqual([1, 1, 0, 0, 0, 1, 1]);
    // Rows whose audit draw is not above the audit heap's worst may be audited.
    const draws = Float64Array.from([0.1, 0.9, 0, 0, 0, 0.9, 0.5]);
    expect(run(Infinity, draws, 0.5)).toEqual([1, SETTLED, 0, 0, 0, SETTLED, 1]);
  });
});

const LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'];

/** Bench-like records: peaky or flat, six decimals, some absent labels, some bad. */
function records(n: number, seed: number): string[] {
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const alpha = 0.3 + r() * 3;
    const e = LABELS.map(() => Math.pow(-Math.log(1 - r()), alpha));
    const s = e.reduce((a, b) => a + b, 0);
    const probs = LABELS.map((l, j) => [l, Number((e[j] / s).toFixed(6))] as const).filter(([, p], j) => j !== i % 7 || p > 0.001);
    const line = JSON.stringify({ id: `item-${i}`, text: `t ${i}`, probs: Object.fromEntries(probs), model: i % 5 === 0 ? 'v2' : 'v1' });
    out.push(i % 997 === 0 ? line.replace('0.', '-0.') : line);
  }
  return out;
}

// Without the module both sides of these comparisons would be JS: skipped then, and the JS path is tested on its own elsewhere.
describe.skipIf(!NATIVE.inUse)(`settled JSONL chunks${NEEDS_NATIVE}`, () => {
  it.each(KERNELS)('give the same top, audit, rejects and stats as JS alone, with floors, audits and exclusions (scalar: %s)', (scalar) => {
    forceScalar(scalar);
    const lines = records(30_000, 11);
    const chunk = new TextEncoder().encode(lines.join('\n') + '\n');
    const exclude = BigUint64Array.from(
      [...new Set(lines.filter((_, i) => i % 13 === 0).map((_, i) => exclusionKey(`item-${i * 13}`, i % 2 === 0 ? undefined : 'v1')))].sort((a, b) =>
        a < b ? -1 : a > b ? 1 : 0,
      ),
    );
    for (const [topK, auditK, topFloor, excluding] of [
      [100, 0, undefined, false],
      [1000, 25, undefined, true],
      [50, 5, 1.2, false],
      [0, 10, undefined, true],
      [5000, 0, undefined, false],
    ] as const) {
      const input: ScoreChunkInput = {
        kind: 'score-chunk',
        chunk,
        object: 'o',
        firstLine: 1,
        format: 'auto',
        task: 'textcat',
        labels: LABELS,
        strategy: { name: 'entropy', seed: 'x' },
        topK,
        auditK,
        topFloor,
        exclude: excluding ? exclude : undefined,
        keepEmbedding: false,
        maxLineBytes: 1 << 20,
        probTolerance: 1e-3,
      };
      const plain = scoreChunkSync(input, { nativeScan });
      const settled = scoreChunkSync(input, { nativeScan, nativeSettle });
      expect(JSON.stringify(settled), `topK ${topK} auditK ${auditK}`).toBe(JSON.stringify(plain));
      expect(plain.stats.scored).toBeGreaterThan(25_000);
    }
  });

  it.each(KERNELS)('keep every top row when a floor leaves the heap partly filled across batches (scalar: %s)', (scalar) => {
    forceScalar(scalar);
    const chunk = new TextEncoder().encode(records(30_000, 11).join('\n') + '\n');
    const base: ScoreChunkInput = {
      kind: 'score-chunk',
      chunk,
      object: 'o',
      firstLine: 1,
      format: 'auto',
      task: 'textcat',
      labels: LABELS,
      strategy: { name: 'entropy', seed: 'x' },
      topK: 400,
      auditK: 0,
      keepEmbedding: false,
      maxLineBytes: 1 << 20,
      probTolerance: 1e-3,
    };
    // A floor at the 400th best overall: the first batch of 4 096 lines holds only ~55 rows above it, so
    // the top-100 heap starts the second batch part full, and rows of that batch must still displace its entries.
    const floor = scoreChunkSync(base, { nativeScan }).top[399].score;
    const input = { ...base, topK: 100, topFloor: floor };
    const plain = scoreChunkSync(input, { nativeScan });
    const settled = scoreChunkSync(input, { nativeScan, nativeSettle });
    expect(JSON.stringify(settled.top)).toBe(JSON.stringify(plain.top));
    expect(plain.top).toHaveLength(100);
  });
});

function arrowTable(lines: string[], probsType: 'list' | 'fixed', batchRows: number, float: DataType = new Float64()): Table {
  const item = new Field('item', float, false);
  const fields = [
    new Field('id', new Utf8(), false),
    new Field('text', new Utf8(), true),
    new Field('model', new Utf8(), true),
    new Field('probs', probsType === 'list' ? new List(item) : new FixedSizeList(LABELS.length, item), false),
  ];
  const schema = new Schema(fields);
  const batches: RecordBatch[] = [];
  for (let at = 0; at < lines.length; at += batchRows) {
    const part = lines.slice(at, at + batchRows).map((l) => JSON.parse(l) as { id: string; text: string; model: string; probs: Record<string, number> });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one map over builders of several types
    const b = fields.map((f) => makeBuilder({ type: f.type, nullValues: [null] }) as Builder<any>);
    for (const r of part) {
      b[0].append(r.id);
      b[1].append(r.text);
      b[2].append(r.model);
      b[3].append(LABELS.map((l) => r.probs[l] ?? 0));
    }
    batches.push(
      new RecordBatch(schema, makeData({ type: new Struct(fields), length: part.length, nullCount: 0, children: b.map((x) => x.finish().flush()) })),
    );
  }
  return new Table(batches);
}

async function scoreArrowFile(path: string, topK: number, auditK: number, settle: boolean, topFloor?: number, exclude?: BigUint64Array, keepRecords?: boolean) {
  const top = new TopK<ScoredEntry>(topK);
  const audit = new BottomK<ScoredEntry>(auditK);
  const stats: ChunkStats[] = [];
  const rejects: Reject[] = [];
  await scoreColumnarSource(
    {
      uri: path,
      name: path,
      path,
      open: () => {
        throw new Error('should seek');
      },
    },
    'arrow',
    {
      task: 'textcat',
      labels: LABELS,
      strategy: { name: 'entropy', seed: 'x' },
      probTolerance: 1e-3,
      exclude,
      keepRecords,
      nativeSettle: settle ? undefined : null,
    },
    {
      top,
      audit,
      topFloor,
      onStats: (s) => {
        stats.push(s);
      },
      onRejects: (r) => {
        rejects.push(...r);
      },
    },
  );
  return JSON.stringify({ top: top.values(), audit: audit.values(), stats, rejects });
}

describe.skipIf(!NATIVE.inUse)(`settled Arrow batches${NEEDS_NATIVE}`, () => {
  const lines = records(20_000, 5);

  it.each(KERNELS)('give the same result as JS alone, for list and fixed-size-list probabilities (scalar: %s)', async (scalar) => {
    forceScalar(scalar);
    for (const layout of ['list', 'fixed'] as const) {
      const path = join(dir, `${layout}.arrow`);
      writeFileSync(path, tableToIPC(arrowTable(lines, layout, 3000), 'file'));
      // Every 11th row excluded: half by (id, its model), half by the bare id.
      const exclude = BigUint64Array.from(
        [
          ...new Set(
            lines
              .filter((_, i) => i % 11 === 0)
              .map((l, i) => {
                const r = JSON.parse(l) as { id: string; model: string };
                return exclusionKey(r.id, i % 2 === 0 ? r.model : undefined);
              }),
          ),
        ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      for (const [topK, auditK, floor, ex] of [
        [100, 0, undefined, undefined],
        [1000, 0, undefined, undefined],
        [50, 0, 1.4, undefined],
        [100, 10, undefined, undefined],
        [100, 0, undefined, exclude],
        [200, 25, undefined, exclude],
        [0, 30, undefined, undefined],
      ] as const) {
        const plain = await scoreArrowFile(path, topK, auditK, false, floor, ex);
        expect(await scoreArrowFile(path, topK, auditK, true, floor, ex), `${layout} top ${topK} audit ${auditK} exclude ${ex !== undefined}`).toBe(plain);
        expect(plain).toContain('"reason":"probability is negative');
        if (ex !== undefined) expect(JSON.parse(plain).stats.some((x: ChunkStats) => x.skipped > 0)).toBe(true);
      }
    }
  });
});

describe('entries without records (keepRecords: false, for `reviewloop score`)', () => {
  /** The result with each entry's record cut to its id: what a run without records must give. */
  const idOnly = (json: string) => {
    const r = JSON.parse(json) as { top: ScoredEntry[]; audit: ScoredEntry[] };
    for (const e of [...r.top, ...r.audit]) e.record = { id: e.id };
    return JSON.stringify(r);
  };

  it('select, draw, count and reject JSONL lines exactly as with records, on the fast and the general path', () => {
    const lines = records(20_000, 5);
    // A few lines only the general path reads (keys out of the usual order).
    for (let i = 0; i < lines.length; i += 501) lines[i] = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(lines[i]) as object).reverse()));
    const chunk = new TextEncoder().encode(lines.join('\n') + '\n');
    for (const fastPath of [true, false]) {
      const input: ScoreChunkInput = {
        kind: 'score-chunk',
        chunk,
        object: 'o',
        firstLine: 1,
        format: 'auto',
        task: 'textcat',
        labels: LABELS,
        strategy: { name: 'entropy', seed: 'x' },
        topK: 300,
        auditK: 30,
        keepEmbedding: false,
        maxLineBytes: 1 << 20,
        probTolerance: 1e-3,
      };
      const whole = scoreChunkSync(input, { nativeScan, nativeSettle, fastPath });
      const bare = scoreChunkSync({ ...input, keepRecords: false }, { nativeScan, nativeSettle, fastPath });
      expect(JSON.stringify(bare), `fastPath ${fastPath}`).toBe(idOnly(JSON.stringify(whole)));
      expect(whole.top[0].record.probs).toBeDefined();
    }
  });

  it('select, draw, count and reject Arrow rows exactly as with records', async () => {
    const path = join(dir, 'bare.arrow');
    writeFileSync(path, tableToIPC(arrowTable(records(6000, 8), 'list', 1000), 'file'));
    const whole = await scoreArrowFile(path, 300, 30, true);
    expect(await scoreArrowFile(path, 300, 30, true, undefined, undefined, false)).toBe(idOnly(whole));
    expect((JSON.parse(whole) as { top: ScoredEntry[] }).top[0].record.text).toBeDefined();
  });
});
