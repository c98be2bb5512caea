/**
 * The differential campaign: seeded runs of `scoreSources` (what `reviewloop
 * score` runs) and of whole rounds, each compared with a plain reference
 * selection computed here without any fast path: every record parsed with
 * JSON.parse, normalised and scored by the general path, one at a time, on
 * this thread, ranked by a full sort. The runs vary what the fast paths
 * depend on: thread counts, chunk sizes, native code on and off, the input
 * mix (plain JSONL read in byte ranges, streamed JSONL, .gz, Arrow in the pool
 * and on the main thread, Parquet, objects of very different sizes),
 * duplicated ids, exact ties, audits, exclusions, and random delays around
 * every pool message so the interleavings (and so the floors) differ from run
 * to run. Pools are kept across runs, so floors of earlier runs are there too.
 *
 * Each fast path's invariant has a case aimed at it:
 * - run and thread floors (worker/pool/thread-floor.ts): many small chunks of one
 *   run on few threads, so floors rise early; duplicated ids across chunks;
 * - the native settler (scoring/fast/settle.ts): entropy, floors arriving while a
 *   chunk's heap is partly filled (tiny chunks after large ones, K above a
 *   chunk's row count);
 * - id-unique heaps (scoring/topk.ts): copies of one id with better and worse
 *   scores, in one chunk and across objects;
 * - ranges cut smaller at a file's end (worker/sources/line-range.ts): chunk sizes from
 *   1 KiB to the default, files of 1 to thousands of lines;
 * - Arrow batch groups in the pool (worker/pool/score-run.ts): arrowParallelMinBytes 0.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { type Builder, Field, Float64, List, makeBuilder, makeData, RecordBatch, Schema, Struct, Table, tableToIPC, Utf8 } from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { exclusionKey, isExcluded, uniform01 } from '../../../scoring/hash.js';
import { normalizeRecord } from '../../../scoring/normalize.js';
import { scoreRecord } from '../../../scoring/strategies.js';
import { COPIES_PER_ID, compareDrawn, compareRanked } from '../../../scoring/topk.js';
import type { Reject, ScoredEntry, StrategyName } from '../../../scoring/types.js';
import { rng } from '../../../worker/demo/data.js';
import type { ScoringPool } from '../../../worker/pool/pool.js';
import { scoreSources, sharedKeys, type ScoreParams } from '../../../worker/pool/score-run.js';
import type { Source } from '../../../worker/sources/sources.js';
import { parseConfig } from '../../../config/parse.js';
import { LocalStore } from '../../../worker/store/local-store.js';
import { projectStore } from '../../../worker/store/open-store.js';
import { runRound } from '../../../worker/round/round.js';
import { select } from '../../../domain/select.js';
import { writeOnce } from '../../../worker/store/write-once.js';
import { ScoringPool as Pool } from '../../../worker/pool/pool.js';
import { bump, check, newFigures, type Figures } from './common.js';

export const LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'];

export type ObjectFormat = 'jsonl-file' | 'jsonl-stream' | 'jsonl-gz' | 'arrow' | 'parquet';

/** One generated prediction line: a record, or a line the parser must reject. */
export type Line = { kind: 'record'; value: { id: string; text: string; probs: Record<string, number>; model: string } } | { kind: 'bad'; text: string };

export interface GeneratedObject {
  name: string;
  format: ObjectFormat;
  lines: Line[];
}

export interface DiffCase {
  seed: number;
  threads: number;
  native: boolean;
  chunkBytes: number;
  strategy: StrategyName;
  topK: number;
  auditK: number;
  /** Arrow objects in the pool (0) or on the main thread. */
  arrowParallelMinBytes: number;
  /** Upper bound of the random pause before and after each pool message. */
  delayMs: number;
  objects: GeneratedObject[];
  /** (id, model) pairs excluded as if queued before. */
  exclude: Array<[string, string]>;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

/** Probabilities over LABELS with six decimals: peaky or flat, some exactly tied with an earlier record. */
function probs(r: () => number): Record<string, number> {
  const alpha = 0.3 + r() * 3;
  const e = LABELS.map(() => Math.pow(-Math.log(1 - r()), alpha) + 1e-9);
  const s = e.reduce((a, b) => a + b, 0);
  return Object.fromEntries(LABELS.map((l, j) => [l, Number((e[j] / s).toFixed(6))]));
}

/** A case from its seed alone. */
export function makeCase(seed: number, kind: 'score' | 'round'): DiffCase {
  const r = rng(seed);
  const nObjects = 1 + Math.floor(r() * 4);
  const formats: ObjectFormat[] =
    kind === 'round' ? ['jsonl-file', 'jsonl-gz', 'arrow', 'parquet'] : ['jsonl-file', 'jsonl-stream', 'jsonl-gz', 'arrow', 'parquet'];
  const dupRate = pick(r, [0, 0, 0.02, 0.2]);
  const tieRate = pick(r, [0, 0.05, 0.3]);
  const ids: string[] = [];
  const earlier: Array<Record<string, number>> = [];
  const objects: GeneratedObject[] = [];
  for (let o = 0; o < nObjects; o++) {
    const format = pick(r, formats);
    // Very different sizes: empty, a line, less than a batch, around K, several batches and chunks.
    const n = pick(r, [0, 1, 7, 60, 60, 400, 400, 1500, 4000]);
    const lines: Line[] = [];
    for (let i = 0; i < n; i++) {
      const columnar = format === 'arrow' || format === 'parquet';
      if (!columnar && r() < 0.01) {
        lines.push({
          kind: 'bad',
          text: r() < 0.5 ? '{"id": "cut' : JSON.stringify({ id: `bad-${seed}-${o}-${i}`, text: 'x', probs: { billing: 0.9, shipping: 0.9 } }),
        });
        continue;
      }
      const id = ids.length > 0 && r() < dupRate ? pick(r, ids) : `i${o}-${i}-${Math.floor(r() * 1e6)}`;
      ids.push(id);
      const p = earlier.length > 0 && r() < tieRate ? pick(r, earlier) : probs(r);
      earlier.push(p);
      lines.push({ kind: 'record', value: { id, text: `text ${i}`, probs: p, model: r() < 0.8 ? 'm1' : 'm2' } });
    }
    const ext = format === 'jsonl-gz' ? 'jsonl.gz' : format === 'arrow' ? 'arrow' : format === 'parquet' ? 'parquet' : 'jsonl';
    objects.push({ name: `p${o}-${format}.${ext}`, format, lines });
  }
  const exclude: Array<[string, string]> = [];
  if (r() < 0.4) {
    for (const o of objects) for (const l of o.lines) if (l.kind === 'record' && r() < 0.1) exclude.push([l.value.id, l.value.model]);
  }
  const topK = pick(r, [1, 3, 20, 100, 700, 5000]);
  return {
    seed,
    threads: pick(r, [1, 2, 2, 4]),
    native: r() < 0.7,
    chunkBytes: pick(r, [1024, 4096, 16384, 65536, 16 * 1024 * 1024]),
    strategy: pick(r, ['entropy', 'entropy', 'entropy', 'margin', 'least-confidence'] as const),
    topK,
    auditK: pick(r, [0, 0, 1, 10, 50]),
    arrowParallelMinBytes: r() < 0.5 ? 0 : 256 * 1024 * 1024,
    delayMs: pick(r, [0, 0.5, 3]),
    objects,
    exclude,
  };
}

export function jsonlText(lines: Line[]): string {
  return lines.map((l) => (l.kind === 'bad' ? l.text : JSON.stringify(l.value))).join('\n') + (lines.length > 0 ? '\n' : '');
}

function arrowTable(lines: Line[]): Table {
  const listType = new List(new Field('item', new Float64(), false));
  const fields = [
    new Field('id', new Utf8(), false),
    new Field('text', new Utf8(), true),
    new Field('probs', listType, false),
    new Field('model', new Utf8(), true),
  ];
  const schema = new Schema(fields);
  const rows = lines.filter((l) => l.kind === 'record').map((l) => (l as Extract<Line, { kind: 'record' }>).value);
  const batches: RecordBatch[] = [];
  const batchRows = 500;
  for (let at = 0; at < Math.max(rows.length, 1); at += batchRows) {
    const part = rows.slice(at, at + batchRows);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one map over builders of several types
    const b = new Map<string, Builder<any>>(fields.map((f) => [f.name, makeBuilder({ type: f.type })]));
    for (const v of part) {
      b.get('id')!.append(v.id);
      b.get('text')!.append(v.text);
      b.get('probs')!.append(LABELS.map((l) => v.probs[l]));
      b.get('model')!.append(v.model);
    }
    batches.push(
      new RecordBatch(
        schema,
        makeData({ type: new Struct(fields), length: part.length, nullCount: 0, children: fields.map((f) => b.get(f.name)!.finish().flush()) }),
      ),
    );
  }
  return new Table(batches);
}

/** The object's bytes as its producer would write them. */
export function objectBytes(o: GeneratedObject): Uint8Array {
  switch (o.format) {
    case 'jsonl-file':
    case 'jsonl-stream':
      return Buffer.from(jsonlText(o.lines));
    case 'jsonl-gz':
      return gzipSync(Buffer.from(jsonlText(o.lines)));
    case 'arrow':
      return tableToIPC(arrowTable(o.lines), 'file');
    case 'parquet': {
      const wasm = pq.Table.fromIPCStream(tableToIPC(arrowTable(o.lines), 'stream'));
      return pq.writeParquet(wasm, new pq.WriterPropertiesBuilder().setMaxRowGroupSize(700).build());
    }
  }
}

export interface Selected {
  id: string;
  score: number;
  u: number;
  object: string;
  line: number;
}

export interface Reference {
  top: Selected[];
  audit: Selected[];
  /** Losing copies of kept ids ranking before each heap's worst, at most COPIES_PER_ID per id (see scoring/topk.ts). */
  copiesTop: Selected[];
  copiesAudit: Selected[];
  read: number;
  scored: number;
  rejected: number;
  skipped: number;
  confidenceNano: number;
  entropyNano: number;
  rejects: Array<[string, number]>;
}

/** Every id once, by its best copy in `cmp` order. */
function bestPerId(xs: Selected[], cmp: (a: Selected, b: Selected) => number): Selected[] {
  const seen = new Set<string>();
  const out: Selected[] = [];
  for (const e of xs.slice().sort(cmp)) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    out.push(e);
  }
  return out;
}

const asRanked = (e: Selected) => ({ id: e.id, score: e.score, u: e.u, source: { object: e.object, line: e.line } });

/**
 * The plain reference: one thread, no floors, no settler, no native code, no
 * fast line parser; every line through JSON.parse and the general scorer.
 * `uriOf` names objects as the run does; objects are taken in the order given.
 */
export function reference(
  objects: GeneratedObject[],
  c: Pick<DiffCase, 'strategy' | 'topK' | 'auditK'>,
  seed: string,
  exclude: Array<[string, string | undefined]>,
  uriOf: (o: GeneratedObject) => string,
): Reference {
  const keys = sharedKeys(exclude.map(([id, model]) => exclusionKey(id, model)));
  const labelSet = new Set(LABELS);
  const all: Selected[] = [];
  const ref: Reference = {
    top: [],
    audit: [],
    copiesTop: [],
    copiesAudit: [],
    read: 0,
    scored: 0,
    rejected: 0,
    skipped: 0,
    confidenceNano: 0,
    entropyNano: 0,
    rejects: [],
  };
  for (const o of objects) {
    const columnar = o.format === 'arrow' || o.format === 'parquet';
    const lines = columnar ? o.lines.filter((l) => l.kind === 'record') : o.lines;
    lines.forEach((l, i) => {
      ref.read++;
      const reject = () => {
        ref.rejected++;
        ref.rejects.push([uriOf(o), i + 1]);
      };
      let value: unknown;
      try {
        value = JSON.parse(l.kind === 'bad' ? l.text : JSON.stringify(l.value));
      } catch {
        reject();
        return;
      }
      const norm = normalizeRecord(value, { task: 'textcat', labels: LABELS, labelSet, probTolerance: 1e-3, format: 'auto' });
      if (!norm.ok) {
        reject();
        return;
      }
      const rec = norm.record;
      if (keys.length > 0 && isExcluded(keys, rec.id, rec.model)) {
        ref.skipped++;
        return;
      }
      const s = scoreRecord(rec, LABELS, { name: c.strategy, seed });
      if (!s.ok) {
        reject();
        return;
      }
      ref.scored++;
      let best = -1;
      let ent = 0;
      for (const label of LABELS) {
        const p = rec.probs![label];
        if (p > best) best = p;
        if (p > 0) ent -= p * Math.log(p);
      }
      ref.confidenceNano += Math.round(best * 1e9);
      ref.entropyNano += Math.round(ent * 1e9);
      all.push({ id: rec.id, score: s.score, u: uniform01(seed, rec.id), object: uriOf(o), line: i + 1 });
    });
  }
  const rank = (a: Selected, b: Selected) => compareRanked(asRanked(a), asRanked(b));
  const draw = (a: Selected, b: Selected) => compareDrawn(asRanked(a), asRanked(b));
  ref.top = bestPerId(all, rank).slice(0, c.topK);
  ref.audit = bestPerId(all, draw).slice(0, c.auditK);
  ref.copiesTop = losingCopies(all, ref.top, c.topK, rank);
  ref.copiesAudit = losingCopies(all, ref.audit, c.auditK, draw);
  return ref;
}

/** For each kept id, its copies after the best, at most COPIES_PER_ID, that rank before the K-th kept entry (all while fewer than K). */
function losingCopies(all: Selected[], kept: Selected[], k: number, cmp: (a: Selected, b: Selected) => number): Selected[] {
  const root = kept.length === k && k > 0 ? kept[k - 1] : undefined;
  const ids = new Set(kept.map((e) => e.id));
  const perId = new Map<string, Selected[]>();
  for (const e of all.slice().sort(cmp)) if (ids.has(e.id)) perId.set(e.id, [...(perId.get(e.id) ?? []), e]);
  return [...perId.values()]
    .flatMap((l) => l.slice(1, 1 + COPIES_PER_ID))
    .filter((e) => root === undefined || cmp(e, root) < 0)
    .sort(cmp);
}

/**
 * The duplicate lines a round writes: for each queued id, every other copy that either heap keeps
 * or lists as a losing copy (the heaps may keep different copies), never the queued copy itself;
 * each place once, in input order.
 */
export function referenceDuplicates(ref: Reference, queued: Map<string, string>): Array<[string, number]> {
  const seen = new Set<string>();
  const out: Array<[string, number]> = [];
  for (const e of [...ref.top, ...ref.audit, ...ref.copiesTop, ...ref.copiesAudit]) {
    const at = `${e.object}#${e.line}`;
    if (!queued.has(e.id) || queued.get(e.id) === at || seen.has(at)) continue;
    seen.add(at);
    out.push([e.object, e.line]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
}

/** The pool with a random pause before each task is sent and after its result is back: interleavings differ run to run. */
export function jittered(pool: ScoringPool, r: () => number, maxMs: number): ScoringPool {
  if (maxMs === 0) return pool;
  const pause = () =>
    new Promise<void>((done) => {
      const ms = r() * maxMs;
      if (ms < 0.3) setImmediate(done);
      else setTimeout(done, ms);
    });
  const wrapped = Object.create(pool) as ScoringPool;
  wrapped.score = async (input) => {
    await pause();
    const out = await pool.score(input);
    await pause();
    return out;
  };
  return wrapped;
}

export const fromEntry = (e: ScoredEntry): Selected => ({ id: e.id, score: e.score, u: e.u, object: e.source.object, line: e.source.line });

/** Writes a case's objects under `dir` and describes them as sources, in order. */
export function writeSources(dir: string, c: DiffCase): Source[] {
  mkdirSync(dir, { recursive: true });
  return c.objects.map((o) => {
    const file = path.join(dir, o.name);
    const bytes = objectBytes(o);
    writeFileSync(file, bytes);
    const base = { uri: file, name: o.name, size: bytes.length };
    // Streamed JSONL has no path: it is chunked on the main thread like a remote object.
    if (o.format === 'jsonl-stream') return { ...base, open: () => Readable.from([Buffer.from(bytes)]) };
    return { ...base, path: file, open: () => Readable.from([Buffer.from(bytes)]) };
  });
}

export interface ScoreOutcome {
  top: Selected[];
  audit: Selected[];
  copiesTop: Selected[];
  copiesAudit: Selected[];
  read: number;
  scored: number;
  rejected: number;
  skipped: number;
  confidenceNano: number;
  entropyNano: number;
  rejects: Array<[string, number]>;
}

/** Runs `scoreSources` on a case through `pool`. */
export async function runScore(c: DiffCase, pool: ScoringPool, dir: string): Promise<ScoreOutcome> {
  const sources = writeSources(dir, c);
  const params: ScoreParams = {
    task: 'textcat',
    labels: LABELS,
    strategy: { name: c.strategy, seed: `s${c.seed}` },
    topK: c.topK,
    auditK: c.auditK,
    keepEmbedding: false,
    keepRecords: c.seed % 2 === 0,
    maxLineBytes: 1 << 20,
    probTolerance: 1e-3,
    chunkBytes: c.chunkBytes,
    format: 'auto',
    arrowParallelMinBytes: c.arrowParallelMinBytes,
    ...(c.exclude.length > 0 ? { exclude: sharedKeys(c.exclude.map(([id, m]) => exclusionKey(id, m))) } : {}),
  };
  const rejects: Reject[] = [];
  const res = await scoreSources(sources, params, jittered(pool, rng(c.seed ^ 0x5bd1), c.delayMs), {
    onRejects: (rs) => {
      rejects.push(...rs);
    },
  });
  return {
    top: res.top.map(fromEntry),
    audit: res.audit.map(fromEntry),
    copiesTop: res.copies.top.map(fromEntry),
    copiesAudit: res.copies.audit.map(fromEntry),
    read: res.stats.read,
    scored: res.stats.scored,
    rejected: res.stats.rejected,
    skipped: res.stats.skipped,
    confidenceNano: Number(res.exact.confidenceNano),
    entropyNano: Number(res.exact.entropyNano),
    rejects: rejects.map((x) => [x.object, x.line]),
  };
}

/** Where two outcomes differ, in words; empty when they agree exactly. */
export function differences(got: ScoreOutcome, want: Reference): string[] {
  const out: string[] = [];
  const key = (e: Selected) => `${e.id}|${e.score}|${e.object}#${e.line}`;
  const akey = (e: Selected) => `${e.id}|${e.u}|${e.object}#${e.line}`;
  const diffList = (name: string, a: string[], b: string[]) => {
    if (a.length !== b.length) {
      out.push(`${name}: ${a.length} entries, reference ${b.length}`);
      return;
    }
    const i = a.findIndex((x, j) => x !== b[j]);
    if (i !== -1) out.push(`${name}[${i}]: ${a[i]}, reference ${b[i]}`);
  };
  diffList('top', got.top.map(key), want.top.map(key));
  diffList('audit', got.audit.map(akey), want.audit.map(akey));
  diffList('top copies', got.copiesTop.map(key), want.copiesTop.map(key));
  diffList('audit copies', got.copiesAudit.map(akey), want.copiesAudit.map(akey));
  for (const k of ['read', 'scored', 'rejected', 'skipped', 'confidenceNano', 'entropyNano'] as const) {
    if (got[k] !== want[k]) out.push(`${k}: ${got[k]}, reference ${want[k]}`);
  }
  diffList(
    'rejects',
    got.rejects.map(([o, l]) => `${o}#${l}`),
    want.rejects.map(([o, l]) => `${o}#${l}`),
  );
  return out;
}

export function caseDir(root: string, seed: number): string {
  return path.join(root ?? tmpdir(), `case-${seed}`);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** What a round case checks: its queue order and its reject lines against the reference selection. */
export interface RoundOutcome {
  queue: string[];
  queued: Array<[string, string]>;
  rejects: Array<[string, number]>;
  counts: { read: number; scored: number; rejected: number; skipped: number };
}

/** The queue a round must write for `ref`: the plain reference selection passed through the same select(). */
export function referenceQueue(ref: Reference, topK: number, auditFraction: number): { queue: string[]; sources: Map<string, string> } {
  const entry = (e: Selected): ScoredEntry => ({ id: e.id, score: e.score, u: e.u, source: { object: e.object, line: e.line }, record: { id: e.id } });
  const items = select(ref.top.map(entry), ref.audit.map(entry), ref.scored, { topK, auditFraction, labels: LABELS }).items;
  return {
    queue: items.map((i) => `${i.audit ? 'A' : 'T'}:${i.entry.id}`),
    sources: new Map(items.map((i) => [i.entry.id, `${i.entry.source.object}#${i.entry.source.line}`])),
  };
}

/** Runs one round over `objects` (written first) on a local root and reads back what it wrote. */
export async function runRoundCase(
  root: string,
  c: DiffCase,
  objects: GeneratedObject[],
  roundId: string,
  auditFraction: number,
  pool: ScoringPool,
): Promise<RoundOutcome & { uri: (o: GeneratedObject) => string }> {
  const config = parseConfig({
    storage: { root },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: LABELS, strategy: { name: c.strategy, topK: c.topK, auditFraction, seed: c.seed, maxRejectRatio: 1 } }],
  });
  const project = config.projects[0];
  const store = projectStore(new LocalStore(root), project.name);
  for (const o of objects) await writeOnce(store, `predictions/${o.name}`, Buffer.from(objectBytes(o)), 'application/octet-stream');
  const r = await runRound({ project, store, pool: jittered(pool, rng(c.seed ^ 0x77), c.delayMs), sink: null, roundId, chunkBytes: c.chunkBytes });
  const lines = (name: string) =>
    store.read(name).then((b) =>
      b
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  const metas = (await lines(`rounds/${roundId}/queue.jsonl`)).map((t) => t.meta as { id: string; audit: boolean; model: string });
  const queue = metas.map((m) => `${m.audit ? 'A' : 'T'}:${m.id}`);
  const queued = metas.map((m) => [m.id, m.model] as [string, string]);
  const rejects = (await lines(`rounds/${roundId}/rejects.jsonl`)).map((x) => [x.object as string, x.line as number] as [string, number]);
  const { read, scored, rejected, skipped } = r.manifest.counts;
  return { queue, queued, rejects, counts: { read, scored, rejected, skipped }, uri: (o) => store.uri(`predictions/${o.name}`) };
}

export interface CampaignOptions {
  runs: number;
  seed: number;
  roundShare: number;
  dir: string;
}

/** Runs `runs` seeded cases (about `roundShare` of them rounds, the rest score runs) and collects the figures. */
export async function runDifferentialCampaign(opts: CampaignOptions): Promise<Figures> {
  const fig = newFigures('differential', opts.seed);
  const t0 = Date.now();
  const pools = new Map<string, ScoringPool>();
  const poolFor = (threads: number, native: boolean) => {
    const key = `${threads}/${native}`;
    let p = pools.get(key);
    if (p === undefined) {
      p = new Pool({ threads, native });
      pools.set(key, p);
    }
    return p;
  };
  try {
    for (let i = 0; i < opts.runs; i++) {
      const seed = opts.seed * 1_000_003 + i;
      const isRound = rng(seed ^ 0xa11)() < opts.roundShare;
      const c = makeCase(seed, isRound ? 'round' : 'score');
      const dir = caseDir(opts.dir, seed);
      const label = `seed ${seed} (${c.objects.map((o) => `${o.format}×${o.lines.length}`).join(' ')}, ${c.threads} threads, native ${c.native}, chunk ${c.chunkBytes}, ${c.strategy}, K ${c.topK}/${c.auditK}, ${c.exclude.length} excluded)`;
      bump(
        fig.tried,
        'records',
        c.objects.reduce((a, o) => a + o.lines.length, 0),
      );
      bump(fig.tried, `threads=${c.threads}`);
      bump(fig.tried, c.native ? 'native' : 'js');
      try {
        if (isRound) await roundCase(fig, c, dir, poolFor(c.threads, c.native), label);
        else {
          bump(fig.tried, 'score runs');
          const got = await runScore(c, poolFor(c.threads, c.native), dir);
          const want = reference(c.objects, c, `s${c.seed}`, c.exclude, (o) => path.join(dir, o.name));
          const diff = differences(got, want);
          check(fig, 'score run selects, counts and rejects as the plain reference', diff.length === 0, () => `${label}: ${diff.join('; ')}`);
        }
      } finally {
        removeDir(dir);
      }
    }
  } finally {
    for (const p of pools.values()) await p.close();
  }
  fig.elapsedMs = Date.now() - t0;
  return fig;
}

/** Two rounds: the first over some objects, the second over the rest, excluding what the first queued. */
async function roundCase(fig: Figures, c: DiffCase, dir: string, pool: ScoringPool, label: string): Promise<void> {
  const auditFraction = pick(rng(c.seed ^ 0xf00), [0, 0.1, 0.5]);
  const auditK = Math.round(c.topK * auditFraction);
  const split = Math.ceil(c.objects.length / 2);
  const exclude: Array<[string, string]> = [];
  for (const [n, objects] of [c.objects.slice(0, split), c.objects.slice(split)].entries()) {
    if (n === 1 && objects.length === 0) break;
    const roundId = `2026110${n + 1}T0200Z`;
    bump(fig.tried, 'round runs');
    const got = await runRoundCase(dir, c, objects, roundId, auditFraction, pool);
    const ref = reference(objects, { strategy: c.strategy, topK: c.topK, auditK }, `${c.seed}:${roundId}`, exclude, got.uri);
    const { queue: want, sources } = referenceQueue(ref, c.topK, auditFraction);
    const same = got.queue.length === want.length && got.queue.every((x, j) => x === want[j]);
    check(fig, 'round queue is the plain reference selection, in order', same, () => {
      const j = got.queue.findIndex((x, k) => x !== want[k]);
      return `${label} ${roundId}: ${got.queue.length} queued, reference ${want.length}; first difference at ${j}: ${got.queue[j]} vs ${want[j]}`;
    });
    const counts = { read: ref.read, scored: ref.scored, rejected: ref.rejected, skipped: ref.skipped };
    const rejects = [...ref.rejects, ...referenceDuplicates(ref, sources)];
    check(
      fig,
      'round counts, reject and duplicate lines match the reference',
      JSON.stringify(got.counts) === JSON.stringify(counts) && JSON.stringify(got.rejects) === JSON.stringify(rejects),
      () => `${label} ${roundId}: counts ${JSON.stringify(got.counts)} vs ${JSON.stringify(counts)}, ${got.rejects.length} reject lines vs ${rejects.length}`,
    );
    // What the next round must exclude: every queued (id, model), the model as the queued copy had it.
    exclude.push(...got.queued);
  }
}
