/**
 * Bad input campaign: property-based fuzzing (fast-check, seeded) of every
 * parser that sees outside bytes. Each case must end in a value, a typed
 * ReviewloopError or a quarantined record with a reason: never an untyped
 * exception, a hang, or memory past a stated bound, and never prototype
 * pollution.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { tableFromJSON, tableToIPC } from 'apache-arrow';
import fc from 'fast-check';
import { parseConfig } from '../../../config/parse.js';
import { loadConfig } from '../../../worker/core/load-config.js';
import { normalizeRecord, type NormalizeOptions } from '../../../scoring/normalize.js';
import { scoreChunkSync } from '../../../scoring/chunk.js';
import type { ScoreChunkInput } from '../../../scoring/types.js';
import { chunkLines } from '../../../worker/sources/chunker.js';
import { isReviewloopError } from '../../../domain/errors.js';
import { LocalStore } from '../../../worker/store/local-store.js';
import { parseExportLine } from '../../../domain/prodigy/exports.js';
import type { ScoringPool } from '../../../worker/pool/pool.js';
import { scoreSources } from '../../../worker/pool/score-run.js';
import { decompressed, type Source } from '../../../worker/sources/sources.js';
import { validateObjectName } from '../../../worker/store/store.js';
import { bump, check, newFigures, type Figures } from './common.js';

/** Options for {@link runFuzzCampaign}. */
export interface FuzzOptions {
  /** fast-check runs per property. */
  runs: number;
  seed: number;
  /** Needed for the columnar (Arrow/Parquet) readers, which score through the pool. */
  pool: ScoringPool;
  /** Size of the single-line input, in bytes. Default 100 MiB. */
  hugeLineBytes?: number;
}

const LABELS = ['billing', 'shipping', 'returns'];
const NOPTS: NormalizeOptions = { task: 'textcat', labels: LABELS, labelSet: new Set(LABELS), probTolerance: 1e-3, format: 'auto' };
/** Bound on RSS growth while a huge single line streams through the chunker: chunk + maxLineBytes + slack. */
export const HUGE_LINE_RSS_BOUND_BYTES = 96 * 1024 * 1024;

// ---- inputs ---------------------------------------------------------------

const weirdKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'id', 'probs', 'text', 'spans', 'meta', '');
const weirdNumber = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0, -1, 1.0000001, 2 ** 53, Number.MAX_VALUE, 1e-300));
/** Any JSON-ish value, with keys that attack prototypes and numbers JSON cannot carry. */
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    weirdNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(weirdKey, fc.string()), tie('v'), { maxKeys: 5 }),
  ),
})).v;

const span = fc.record(
  { start: weirdNumber, end: weirdNumber, label: fc.oneof(fc.constantFrom(...LABELS), fc.string(), value), score: fc.option(weirdNumber, { nil: undefined }) },
  { requiredKeys: [] },
);
const probs = fc.dictionary(fc.oneof(fc.constantFrom(...LABELS), weirdKey), fc.oneof(weirdNumber, value), { maxKeys: 4 });
/** Records close to valid: every field present or not, with right or wrong types. */
const nearRecord = fc.record(
  {
    id: fc.oneof(fc.string(), fc.integer(), weirdNumber, value),
    text: fc.oneof(fc.string(), value),
    probs: fc.oneof(probs, value),
    scores: fc.oneof(fc.array(weirdNumber, { maxLength: 4 }), value),
    spans: fc.oneof(fc.array(span, { maxLength: 3 }), value),
    tokens: value,
    token_probs: value,
    boxes: value,
    committee: value,
    samples: value,
    embedding: value,
    model: value,
    meta: value,
    instance: value,
    prediction: value,
  },
  { requiredKeys: [] },
);

/** Valid records (probabilities normalised), so accepted paths and the heaps are exercised too. */
const validRecord = fc
  .tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string(), fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 3, maxLength: 3 }))
  .map(([id, text, w]) => {
    const t = w.reduce((a, b) => a + b, 0);
    return { id, text, probs: Object.fromEntries(LABELS.map((l, i) => [l, w[i] / t])) };
  });

/** Deep nesting past what a recursive parser would survive. */
const deepJson = fc.integer({ min: 1000, max: 20_000 }).map((d) => `{"id":"deep","text":"t","meta":${'['.repeat(d)}${']'.repeat(d)}}`);

function toLine(v: unknown): string {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

/** Lines as bytes: valid-ish JSON, truncated, with invalid UTF-8, with CR and NUL. */
const lineBytes = fc.oneof(
  validRecord.map((r) => Buffer.from(toLine(r))),
  nearRecord.map((r) => Buffer.from(toLine(r))),
  fc.tuple(nearRecord, fc.nat()).map(([r, n]) => {
    const s = Buffer.from(toLine(r));
    return s.subarray(0, n % (s.length + 1));
  }),
  fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)),
  fc.constantFrom(Buffer.from([0xff, 0xfe, 0x7b]), Buffer.from([0xc3, 0x28]), Buffer.from('{"id":"a\u0000"}'), Buffer.from('\r'), Buffer.from('')),
  deepJson.map((s) => Buffer.from(s)),
);
const chunkBytes = fc.array(lineBytes, { maxLength: 12 }).map((ls) => Buffer.concat(ls.flatMap((l) => [l, Buffer.from('\n')])));

// ---- the campaign ---------------------------------------------------------

/** Runs `fn`; an exception that is not a ReviewloopError is a violation. */
async function settle(fig: Figures, parser: string, input: () => string, fn: () => unknown): Promise<'ok' | 'typed'> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (isReviewloopError(err)) return 'typed';
    check(fig, `${parser}: only typed errors`, false, () => `${String((err as Error)?.stack ?? err).slice(0, 300)} for input ${input().slice(0, 200)}`);
    return 'typed';
  }
}

function prototypeClean(): boolean {
  const probe = {} as Record<string, unknown>;
  return Object.keys(Object.prototype).length === 0 && probe.polluted === undefined && probe.id === undefined && probe.probs === undefined;
}

export async function runFuzzCampaign(opts: FuzzOptions): Promise<Figures> {
  const started = Date.now();
  const fig = newFigures('bad-input', opts.seed);
  const params = (extra: Partial<fc.Parameters<unknown>> = {}) => ({ numRuns: opts.runs, seed: opts.seed, ...extra }) as fc.Parameters<unknown>;
  const prop = async <T>(name: string, arb: fc.Arbitrary<T>, body: (x: T) => Promise<void> | void, runs = opts.runs) => {
    if (process.env.RL_CHAOS_TRACE) process.stderr.write(`[bad-input] ${name}: ${runs} runs\n`);
    await fc.assert(
      fc.asyncProperty(arb, async (x) => {
        bump(fig.tried, name);
        await body(x);
      }),
      { ...params(), numRuns: runs } as fc.Parameters<[T]>,
    );
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'rl-fuzz-'));
  try {
    // Prediction records: every outcome is a record or a quarantine with field and reason.
    await prop('normalizeRecord', fc.oneof(value, nearRecord, validRecord), (v) => {
      const r = normalizeRecord(v, NOPTS);
      if (r.ok) {
        const ps = Object.values(r.record.probs ?? {});
        check(
          fig,
          'accepted records have probabilities in [0,1] summing to 1',
          ps.every((p) => p >= 0 && p <= 1) && (ps.length === 0 || Math.abs(ps.reduce((a, b) => a + b, 0) - 1) <= 1e-3),
          () => toLine(v),
        );
        check(
          fig,
          'accepted spans lie inside the text',
          (r.record.spans ?? []).every((s) => s.start >= 0 && s.end > s.start && s.end <= (r.record.text?.length ?? Infinity)),
          () => toLine(v),
        );
      } else {
        check(fig, 'quarantined records carry field and reason', typeof r.field === 'string' && r.reason.length > 0, () => toLine(v));
      }
    });
    // Raw chunk bytes, as worker threads see them: counts add up, every reject has a line and reason.
    await prop('scoreChunkSync', chunkBytes, (bytes) => {
      const input: ScoreChunkInput = {
        kind: 'score-chunk',
        chunk: new Uint8Array(bytes),
        object: 'fuzz.jsonl',
        firstLine: 1,
        format: 'auto',
        task: 'textcat',
        labels: LABELS,
        strategy: { name: 'entropy', seed: 's' },
        topK: 5,
        auditK: 2,
        keepEmbedding: false,
        maxLineBytes: 4096,
        probTolerance: 1e-3,
      };
      let out: ReturnType<typeof scoreChunkSync> | null = null;
      try {
        out = scoreChunkSync(input);
      } catch (err) {
        check(
          fig,
          'scoreChunkSync: only typed errors',
          isReviewloopError(err),
          () => `${String(err)} on ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`,
        );
        return;
      }
      const s = out.stats;
      check(fig, 'chunk counts add up (read = scored + rejected + skipped)', s.read === s.scored + s.rejected + s.skipped, () => JSON.stringify(s));
      check(
        fig,
        'every reject has a line and a reason',
        out.rejects.every((r) => r.line >= 1 && r.reason.length > 0),
        () => JSON.stringify(out!.rejects),
      );
      check(
        fig,
        'scores are finite',
        out.top.every((e) => Number.isFinite(e.score)),
        () => JSON.stringify(out!.top.map((e) => e.score)),
      );
      bump(fig.tried, 'lines.quarantined', s.rejected);
      bump(fig.tried, 'lines.scored', s.scored);
    });
    // The chunker: whatever the bytes and however they are split, lines come back whole and numbered.
    await prop('chunkLines', fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat({ max: 3000 }), { maxLength: 6 })), async ([u, cuts]) => {
      const bytes = Buffer.from(u);
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const parts = [0, ...points, bytes.length]
        .slice(1)
        .map((end, i, arr) => bytes.subarray(i === 0 ? 0 : arr[i - 1], end))
        .filter((p) => p.length > 0);
      let joined = Buffer.alloc(0);
      let oversized = 0;
      await settle(
        fig,
        'chunkLines',
        () => bytes.toString('hex'),
        async () => {
          for await (const c of chunkLines(Readable.from(parts), { chunkBytes: 64, maxLineBytes: 512 })) {
            if ('oversized' in c) oversized++;
            else joined = Buffer.concat([joined, Buffer.from(c.bytes)]);
          }
        },
      );
      check(
        fig,
        'chunks reassemble the input (minus oversized lines)',
        oversized > 0 || joined.equals(bytes),
        () => `${bytes.length} bytes in, ${joined.length} out`,
      );
    });
    // Decompression: random bytes, truncated gzip, bombs: output or INPUT_INVALID.
    await prop(
      'decompressed',
      fc.oneof(
        fc.uint8Array({ maxLength: 256 }).map((u) => Buffer.from(u)),
        fc.tuple(fc.string({ maxLength: 500 }), fc.nat()).map(([s, n]) => {
          const g = gzipSync(s);
          return g.subarray(0, n % (g.length + 1));
        }),
        fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from(u)])),
      ),
      async (buf) => {
        const outcome = await settle(
          fig,
          'decompressed',
          () => buf.toString('hex'),
          async () => {
            for await (const _ of decompressed(Readable.from([buf]), 'fuzz.jsonl.gz', { maxRatio: 100, graceBytes: 1024 })) {
              /* drain */
            }
          },
        );
        bump(fig.tried, `decompressed.${outcome}`);
      },
    );
    // Prodigy exports: an answer or a bad line with field and reason.
    await prop(
      'parseExportLine',
      fc.oneof(
        value.map(toLine),
        fc.string(),
        fc
          .record(
            {
              answer: fc.oneof(fc.constantFrom('accept', 'reject', 'ignore'), value),
              _input_hash: fc.oneof(fc.integer(), weirdNumber, value),
              _task_hash: value,
              meta: fc.oneof(fc.record({ id: fc.oneof(fc.string(), value) }), value),
              accept: value,
              spans: fc.oneof(fc.array(span, { maxLength: 3 }), value),
              text: fc.oneof(fc.string(), value),
              _timestamp: fc.oneof(weirdNumber, value),
              image: value,
              label: value,
              audio_spans: value,
            },
            { requiredKeys: ['answer', '_input_hash'] },
          )
          .map(toLine),
      ),
      (line) => {
        let r: ReturnType<typeof parseExportLine>;
        try {
          r = parseExportLine(line, 'annotations/R/a.jsonl', 1);
        } catch (err) {
          check(fig, 'parseExportLine: only typed results', false, () => `${String(err)} on ${line.slice(0, 200)}`);
          return;
        }
        if (!r.ok) check(fig, 'bad export lines carry field and reason', r.bad.field.length > 0 && r.bad.reason.length > 0, () => line);
        else check(fig, 'accepted export lines have a known answer', ['accept', 'reject', 'ignore'].includes(r.value.answer.answer), () => line);
      },
    );
    // Config: any object, any YAML text: a Config or CONFIG_INVALID.
    const base = {
      storage: { root: '/tmp/x' },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 } }],
    };
    await prop(
      'parseConfig',
      fc.oneof(
        value,
        fc.constant(base),
        fc.tuple(fc.constantFrom('storage', 'stats', 'projects', 'worker', '__proto__'), value).map(([k, v]) => ({ ...base, [k]: v })),
        fc
          .tuple(fc.constantFrom('name', 'task', 'labels', 'strategy', 'queue', 'merge', 'snapshot', 'schedule', '__proto__', 'constructor'), value)
          .map(([k, v]) => ({ ...base, projects: [{ ...base.projects[0], [k]: v }] })),
      ),
      async (raw) => {
        const outcome = await settle(
          fig,
          'parseConfig',
          () => toLine(raw),
          () => parseConfig(raw),
        );
        bump(fig.tried, `parseConfig.${outcome}`);
      },
    );
    let n = 0;
    await prop(
      'loadConfig',
      fc.oneof(
        fc.string(),
        fc.constantFrom(
          'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
          '!!js/function "function(){}"',
          '__proto__: {polluted: 1}\nstorage: {root: x}',
          '\u0000\u0001',
          '- - - -',
          'storage: [',
          '{"storage": {"root": 1}}',
        ),
        value.map(toLine),
      ),
      async (text) => {
        const file = path.join(dir, `c${n++}.yaml`);
        writeFileSync(file, text);
        const outcome = await settle(
          fig,
          'loadConfig',
          () => text,
          () => loadConfig(file, {}),
        );
        bump(fig.tried, `loadConfig.${outcome}`);
      },
      Math.max(20, Math.floor(opts.runs / 5)),
    );
    // Object names from input: PATH_INVALID, or a path that stays under the root.
    const store = new LocalStore(path.join(dir, 'root'));
    await prop(
      'objectNames',
      fc.oneof(
        fc.string(),
        fc.array(fc.constantFrom('..', '.', 'a', '', '\u0000', '\n', '\\', '/', 'C:', '%2e%2e', '.reviewloop-tmp', '\u202e')).map((a) => a.join('/')),
        fc.array(fc.constantFrom('..', 'a', '.', '/', '\u0001')).map((a) => a.join('')),
      ),
      async (name) => {
        const outcome = await settle(
          fig,
          'objectNames',
          () => JSON.stringify(name),
          async () => {
            validateObjectName(name);
            await store.write(name, 'x');
          },
        );
        bump(fig.tried, `objectNames.${outcome}`);
        if (outcome === 'ok') {
          const uri = decodeURIComponent(new URL(store.uri(name)).pathname);
          check(
            fig,
            'an accepted name stays under the root',
            uri.startsWith(`${store.root}${path.sep}`) && !uri.includes(`${path.sep}..${path.sep}`),
            () => `${JSON.stringify(name)} → ${uri}`,
          );
          await store.delete(name).catch(() => undefined);
        }
      },
      Math.max(50, Math.floor(opts.runs / 2)),
    );
    // Columnar readers: random, truncated and bit-flipped Arrow and Parquet bytes, through the real scoring
    // path. parquet-wasm traps inside wasm on some flipped bits; the reader decodes in a worker thread
    // (worker/sources/parquet-thread.ts), so that must end in INPUT_INVALID, not a dead process or a hang.
    const arrow = Buffer.from(
      tableToIPC(
        tableFromJSON([
          { id: 'a', text: 'x', probs: [0.5, 0.3, 0.2] },
          { id: 'b', text: 'y', probs: [0.2, 0.2, 0.6] },
        ]),
        'file',
      ),
    );
    const { Table: WasmTable, writeParquet } = await import('parquet-wasm');
    const parquet = Buffer.from(writeParquet(WasmTable.fromIPCStream(tableToIPC(tableFromJSON([{ id: 'a', text: 'x', probs: [0.5, 0.3, 0.2] }]), 'stream'))));
    await prop(
      'columnar',
      fc.tuple(fc.constantFrom('arrow', 'parquet') as fc.Arbitrary<'arrow' | 'parquet'>, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 2 })),
      async ([fmt, a, b, how]) => {
        const good = fmt === 'arrow' ? arrow : parquet;
        const flip = how === 1;
        const bytes = Buffer.from(how === 0 ? good.subarray(0, a % good.length) : flip ? good : Buffer.alloc(a % 300, b % 256));
        if (flip) bytes[a % bytes.length] ^= 1 << (b % 8);
        const source: Source = { uri: `fuzz.${fmt}`, name: `fuzz.${fmt}`, open: () => Readable.from([bytes]) };
        let timer: NodeJS.Timeout | undefined;
        const outcome = await settle(
          fig,
          'columnar',
          () => `${fmt} ${how} ${a} ${b}`,
          () =>
            Promise.race([
              scoreSources(
                [source],
                {
                  task: 'textcat',
                  labels: LABELS,
                  strategy: { name: 'entropy', seed: 's' },
                  topK: 5,
                  auditK: 0,
                  keepEmbedding: false,
                  maxLineBytes: 4096,
                  probTolerance: 1e-3,
                  chunkBytes: 65536,
                  format: 'auto',
                },
                opts.pool,
              ),
              // A hang is a violation, reported with its input, not a stuck suite.
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error('no answer within 20 s (hang)')), 20_000);
              }),
            ]).finally(() => clearTimeout(timer)),
        );
        bump(fig.tried, `columnar.${outcome}`);
      },
      Math.max(30, Math.floor(opts.runs / 10)),
    );
    check(fig, 'no prototype pollution', prototypeClean(), () => Object.keys(Object.prototype).join(', '));

    await hugeLine(fig, opts.hugeLineBytes ?? 100 * 1024 * 1024);
    await gzipBomb(fig);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  fig.elapsedMs = Date.now() - started;
  return fig;
}

/** A single line of `bytes` (no newline), then one valid line: the chunker must skip it without buffering it. */
async function hugeLine(fig: Figures, bytes: number): Promise<void> {
  const piece = Buffer.alloc(1024 * 1024, 0x61);
  const tail = Buffer.from('\n{"id":"after","text":"t","probs":{"billing":1}}\n');
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  async function* stream() {
    for (let sent = 0; sent < bytes; sent += piece.length) {
      peak = Math.max(peak, process.memoryUsage().rss);
      yield piece;
    }
    yield tail;
  }
  const seen: string[] = [];
  for await (const c of chunkLines(stream(), { chunkBytes: 64 * 1024, maxLineBytes: 16 * 1024 * 1024 })) {
    seen.push('oversized' in c ? `oversized@${c.line}` : `chunk@${c.firstLine}:${Buffer.from(c.bytes).toString().trim()}`);
  }
  bump(fig.tried, 'hugeLineBytes', bytes);
  fig.notes.hugeLineRssGrowthMiB = Math.round((peak - rss0) / 1024 / 1024);
  fig.notes.hugeLineRssBoundMiB = HUGE_LINE_RSS_BOUND_BYTES / 1024 / 1024;
  check(
    fig,
    'a huge line is reported by number and the next line survives',
    seen.length === 2 && seen[0] === 'oversized@1' && seen[1].startsWith('chunk@2:{"id":"after"'),
    () => seen.join(' | '),
  );
  check(fig, 'memory stays bounded on a huge line', peak - rss0 < HUGE_LINE_RSS_BOUND_BYTES, () => `RSS grew ${(peak - rss0) / 1024 / 1024} MiB`);
}

/** 1 GiB of zeros gzipped (~1 MiB): stopped by the ratio guard with the production defaults, memory bounded. */
async function gzipBomb(fig: Figures): Promise<void> {
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (d: Buffer) => parts.push(d));
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < 256; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  await new Promise((r) => gz.end(r));
  const bomb = Buffer.concat(parts);
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let out = 0;
  let code = 'none';
  try {
    // Streamed in 64 KiB pieces, as a store delivers it: the guard compares output to input read so far.
    const pieces = Array.from({ length: Math.ceil(bomb.length / 65536) }, (_, i) => bomb.subarray(i * 65536, (i + 1) * 65536));
    for await (const c of decompressed(Readable.from(pieces), 'bomb.jsonl.gz')) {
      out += c.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
  } catch (err) {
    code = isReviewloopError(err) ? err.code : `untyped: ${String(err)}`;
  }
  bump(fig.tried, 'gzipBombs');
  fig.notes.gzipBombCompressedKiB = Math.round(bomb.length / 1024);
  fig.notes.gzipBombStoppedAfterMiB = Math.round(out / 1024 / 1024);
  // Deflate tops out near 1032:1, so the 1000× guard trips late on zeros; output streams, so memory stays flat regardless.
  check(fig, 'a gzip bomb stops with INPUT_INVALID', code === 'INPUT_INVALID', () => `${code} after ${out} bytes`);
  check(fig, 'memory stays bounded on a gzip bomb', peak - rss0 < HUGE_LINE_RSS_BOUND_BYTES, () => `RSS grew ${(peak - rss0) / 1024 / 1024} MiB`);
}
