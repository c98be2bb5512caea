/**
 * Scores one chunk of JSONL bytes: decode, parse, validate, skip excluded
 * items, score, keep the local top-K and audit candidates, count stats.
 * Pure and synchronous; the piscina task module wraps it.
 */
import { isUtf8 } from 'node:buffer';
import { fastString, parseFastBytes } from './fast/fast-bytes.js';
import { jsLineScanner, META, nativeLineScanner, type NativeScan } from './fast/line-scan.js';
import { fastLineScratch, fastProbs, type FastLineScratch } from './fast/fast-line.js';
import { isExcluded, uniform01, uniform01Key } from './hash.js';
import { normalizeRecord, type NormalizeOptions } from './normalize.js';
import { mayNestDeeperThan, nestingViolation } from './nesting.js';
import { foldSettled, settleBatch, settleCounts, type NativeSettle } from './fast/settle.js';
import { probabilityKernel, scoreRange, scoreRecord, type ProbabilityKernel } from './strategies.js';
import { SEGMENTATION_DEFAULTS, type SegmentationLineContext, segmentationContext, segmentationIdentity, segmentationLine } from './segmentation/line.js';
import { BottomK, COPIES_PER_ID, TopK } from './topk.js';
import type { ChunkStats, PredictionRecord, Reject, ScoreChunkInput, ScoredEntry } from './types.js';

export const CONFIDENCE_BINS = 10;
export const SCORE_BINS = 20;

export function emptyStats(): ChunkStats {
  return {
    read: 0,
    scored: 0,
    rejected: 0,
    skipped: 0,
    confidenceHist: new Array(CONFIDENCE_BINS).fill(0),
    scoreHist: new Array(SCORE_BINS).fill(0),
    labelCounts: {},
    confidenceSum: 0,
    entropySum: 0,
    confidenceNano: 0,
    entropyNano: 0,
  };
}

/**
 * Adds `b` into `a` (in place). Integer counts and nano-unit sums are exact
 * (below 2^53 ≈ 9e6 records at the largest entropy), so the order in which
 * threads finish cannot change a bit of the totals.
 */
export function addStats(a: ChunkStats, b: ChunkStats): ChunkStats {
  a.read += b.read;
  a.scored += b.scored;
  a.rejected += b.rejected;
  a.skipped += b.skipped;
  for (let i = 0; i < a.confidenceHist.length; i++) a.confidenceHist[i] += b.confidenceHist[i];
  for (let i = 0; i < a.scoreHist.length; i++) a.scoreHist[i] += b.scoreHist[i];
  for (const k of Object.keys(b.labelCounts)) a.labelCounts[k] = (a.labelCounts[k] ?? 0) + b.labelCounts[k];
  a.confidenceNano += b.confidenceNano;
  a.entropyNano += b.entropyNano;
  a.confidenceSum = a.confidenceNano / 1e9;
  a.entropySum = a.entropyNano / 1e9;
  return a;
}

export function binIndex(x: number, lo: number, hi: number, bins: number): number {
  if (!(hi > lo)) return 0;
  const i = Math.floor(((x - lo) / (hi - lo)) * bins);
  return i < 0 ? 0 : i >= bins ? bins - 1 : i;
}

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });

/** Splits into lines; a line with invalid UTF-8 comes back as `null` so it can be rejected, not mangled. */
export function decodeLines(chunk: Uint8Array): Array<string | null> {
  try {
    return fatalDecoder.decode(chunk).split('\n');
  } catch {
    const out: Array<string | null> = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      try {
        out.push(fatalDecoder.decode(chunk.subarray(start, end)));
      } catch {
        out.push(null);
      }
      if (nl === -1) break;
      start = nl + 1;
    }
    return out;
  }
}

/** Keeps only what the queue and the snapshot need (the id alone without `keepRecords`), so K retained entries stay small. */
function slim(rec: PredictionRecord, keepEmbedding: boolean, keepRecords: boolean | undefined): PredictionRecord {
  if (keepRecords === false) return { id: rec.id };
  if (keepEmbedding || rec.embedding === undefined) return rec;
  const { embedding: _dropped, ...rest } = rec;
  return rest;
}

export interface ChunkResult {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  rejects: Reject[];
  stats: ChunkStats;
  /** Lines in the chunk: newlines, plus one for bytes after the last newline. */
  lines: number;
}

/** Fast-path state when this chunk's task, format and strategy allow it (see fast-line.ts). */
function fastPath(input: ScoreChunkInput): { s: FastLineScratch; kernel: ProbabilityKernel } | null {
  const kernel = probabilityKernel(input.strategy.name);
  if (kernel === null || input.format === 'vertex' || (input.task !== 'textcat' && input.task !== 'textcat-multilabel')) return null;
  const s = fastLineScratch(input.labels, input.task === 'textcat', input.probTolerance);
  return s === null ? null : { s, kernel };
}

/**
 * Decodes one line of a chunk as `decodeLines` would have; null when it is not
 * UTF-8. A leading BOM is dropped where that did: at the chunk's start, or on
 * every line of a chunk that is not valid UTF-8 as a whole.
 */
function decodeLine(chunk: Uint8Array, start: number, end: number, chunkValid: boolean): string | null {
  try {
    return (start === 0 || !chunkValid ? fatalDecoder : fatalKeepBom).decode(chunk.subarray(start, end));
  } catch {
    return null;
  }
}

const fatalKeepBom = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Lines a scanner parses per batch (the typed arrays it fills are sized for this many). */
const SCAN_BATCH_LINES = 4096;
const NO_DRAWS = new Float64Array(0);

interface ScanArrays {
  meta: Int32Array;
  probs: Float64Array;
  present: Uint8Array;
  visit: Int32Array;
  draws: Float64Array;
}
/** The scan arrays, reused by every chunk on this thread (scoreChunkSync is synchronous): fresh ones per chunk would be most of a thread's garbage. */
let arrays: ScanArrays | undefined;

/** Arrays for `cap` lines of `k` labels: views of the thread's reused ones, grown when too small. */
function scanArrays(cap: number, k: number): ScanArrays {
  if (arrays === undefined || arrays.meta.length < cap * META || arrays.probs.length < cap * k) {
    const c = Math.max(cap, SCAN_BATCH_LINES);
    arrays = {
      meta: new Int32Array(c * META),
      probs: new Float64Array(c * k),
      present: new Uint8Array(c * k),
      visit: new Int32Array(c),
      draws: new Float64Array(c),
    };
  }
  const a = arrays;
  // Views of exactly the sizes a fresh allocation would have: the scanners size their batches by them.
  return {
    meta: a.meta.subarray(0, cap * META),
    probs: a.probs.subarray(0, cap * k),
    present: a.present.subarray(0, cap * k),
    visit: a.visit.subarray(0, cap),
    draws: a.draws.subarray(0, cap),
  };
}

export interface ScoreChunkOptions {
  /** Test hook: false forces every line through JSON.parse + normalizeRecord (the reference the fast paths must match). Default true. */
  fastPath?: boolean;
  /** The native line scanner (native/line-scan.c) when the calling thread loaded it; default: the JS scanner. Results are the same. */
  nativeScan?: NativeScan;
  /** The native row settler (native/settle.c) when loaded: counts rows that reach no heap in C. Results are the same. */
  nativeSettle?: NativeSettle;
}

// long: one pass over a chunk's lines whose per-record state (counters, histograms, the top heap's
// worst score, the scanners' typed arrays) lives in locals of this function. The per-record loop
// reads and updates those locals on every line; split into per-record helpers it would pass them
// per call or move them onto an object, on the path every record of every run takes. What runs
// rarely (building and offering an entry) is already out of the loop (offerFast); comments mark the phases.
export function scoreChunkSync(input: ScoreChunkInput, options: ScoreChunkOptions = {}): ChunkResult {
  const labelSet = new Set(input.labels);
  const nopts: NormalizeOptions = { task: input.task, labels: input.labels, labelSet, probTolerance: input.probTolerance, format: input.format };
  const [lo, hi] = scoreRange(input.strategy.name, input.labels.length);
  const top = new TopK<ScoredEntry>(input.topK, { copiesPerId: COPIES_PER_ID });
  const audit = new BottomK<ScoredEntry>(input.auditK, { copiesPerId: COPIES_PER_ID });
  const rejects: Reject[] = [];
  const stats = emptyStats();
  const singleLabel = input.task !== 'textcat-multilabel';
  const fast = options.fastPath === false ? null : fastPath(input);
  const excluding = input.exclude !== undefined && input.exclude.length > 0;
  const { labels } = input;
  const buf = input.chunk;
  const n = buf.length;
  const auditing = input.auditK > 0;
  const floor = input.topFloor ?? -Infinity;
  // `${seed}\u0000` then the id's bytes: what uniform01 hashes, so the draw needs no id string.
  const seedBytes = new TextEncoder().encode(`${input.strategy.seed}\u0000`);
  let key = new Uint8Array(seedBytes.length + 64);
  key.set(seedBytes);
  const auditDraw = (b: Uint8Array, start: number, end: number): number => {
    const len = seedBytes.length + end - start;
    if (key.length < len) {
      key = new Uint8Array(len * 2);
      key.set(seedBytes);
    }
    key.set(b.subarray(start, end), seedBytes.length);
    return uniform01Key(key.subarray(0, len));
  };
  let chunkValid: boolean | undefined; // checked (natively) on the first line that needs decoding
  const entropyIsScore = singleLabel && input.strategy.name === 'entropy';
  const seg = input.task === 'image-segmentation' ? segmentationContext(input.labels, input.segmentation ?? SEGMENTATION_DEFAULTS, input.strategy) : null;

  // Per-chunk counters as locals and typed arrays (folded into `stats` at the end): this loop runs
  // once per record, and property writes on a shared object cost more than the parse of a number.
  const k = labels.length;
  const labelN = new Float64Array(k);
  let fastRead = 0;
  let fastScored = 0;
  let fastSkipped = 0;
  let confidenceNano = 0;
  let entropyNano = 0;
  const { scoreHist, confidenceHist } = stats;
  const scanConfig = { labels, singleLabel: input.task === 'textcat', probTolerance: input.probTolerance, maxLineBytes: input.maxLineBytes };
  // Worst score still kept by the top heap (-Infinity while it has room; +Infinity when K is 0).
  const topWorst = () => (top.size < top.capacity ? -Infinity : (top.worst()?.score ?? Infinity));
  let worstTop = topWorst();

  const scanner =
    fast === null
      ? jsLineScanner(null)
      : ((options.nativeScan !== undefined ? nativeLineScanner(options.nativeScan, scanConfig) : null) ?? jsLineScanner(scanConfig));
  const cap = Math.max(1, Math.min(SCAN_BATCH_LINES, (n >> 4) + 2));
  const { meta, probs, present, visit, draws: drawRoom } = scanArrays(cap, scanner.k);
  // A record that may reach a heap: build its entry (strings, record) and offer it. Kept out of the
  // loop's function so its first use cannot deoptimise the loop; true when the top heap changed.
  // Kept fast entries get their record (and audit draw) only at the end, when still kept: a heap
  // filling up evicts most of what it took, and building records is most of an offer's cost.
  const unbuilt = new Map<ScoredEntry, number>();
  const offerFast = (
    l: number,
    lineStart: number,
    lineNo: number,
    score: number,
    u: number,
    mayTop: boolean,
    mayAudit: boolean,
    known: string | undefined,
  ): boolean => {
    const mo = l * META;
    const id = known ?? fastString(buf, meta[mo + 2], meta[mo + 3])!;
    const probe: ScoredEntry = { id, score, u, source: { object: input.object, line: lineNo }, record: undefined as unknown as PredictionRecord };
    const keepTop = mayTop && top.wouldKeep(probe);
    const keepAudit = mayAudit && audit.wouldKeep(probe);
    if (!keepTop && !keepAudit) return false;
    unbuilt.set(probe, lineStart);
    if (keepTop) top.push(probe);
    if (keepAudit) audit.push(probe);
    return keepTop;
  };
  /** The record of a fast line, as the general path would build it (the line's key order: parsed once more). */
  const build = (e: ScoredEntry, lineStart: number): void => {
    if (Number.isNaN(e.u)) e.u = uniform01(input.strategy.seed, e.id);
    if (input.keepRecords === false) {
      e.record = { id: e.id };
      return;
    }
    const f = fast!.s;
    parseFastBytes(buf, lineStart, n, f);
    const rec: PredictionRecord = { id: e.id };
    const text = fastString(buf, f.textStart, f.textEnd);
    if (text !== undefined) rec.text = text;
    const model = fastString(buf, f.modelStart, f.modelEnd);
    if (model !== undefined) rec.model = model;
    rec.probs = fastProbs(f, labels);
    e.record = rec;
  };

  // Lines are found in the bytes (split on \n, as decoding then splitting would) by a line scanner
  // (line-scan.ts), a batch at a time: the common shape comes back parsed, every other line is
  // decoded here and takes the general path.
  // The native scanner also checks exclusions and draws the audit sample from the id's bytes
  // (fast = 3: excluded); the JS scanner leaves both to this loop.
  const keyed = scanner.scanWithKeys !== undefined && (excluding || auditing);
  const draws = keyed && auditing ? drawRoom : NO_DRAWS;
  const noKeys = new BigUint64Array(0);
  // Single-label entropy rows that reach no heap are counted natively (settle.ts); they come back as
  // SETTLED. Exclusions and audit draws must then be the scanner's, so the settler sees them.
  const settle =
    options.nativeSettle !== undefined && fast !== null && entropyIsScore && (keyed || (!excluding && !auditing)) ? options.nativeSettle : undefined;
  const counts = settleCounts(k, SCORE_BINS, CONFIDENCE_BINS);
  const kinds = meta.subarray(1);
  const range = [lo, hi] as const;
  let i = 0; // line index within the chunk
  for (let start = 0; start <= n; ) {
    const lines = keyed
      ? scanner.scanWithKeys!(buf, start, meta, probs, present, seedBytes, input.exclude ?? noKeys, draws)
      : scanner.scan(buf, start, meta, probs, present);
    let settled = 0;
    if (settle !== undefined) {
      const wa = audit.worst();
      const drawFloor = auditing ? (audit.size < audit.capacity || wa === undefined ? Infinity : wa.u) : 0;
      settled = settleBatch(settle, counts, probs, present, kinds, META, lines, k, -1, range, Math.max(floor, worstTop), draws, drawFloor, visit);
    }
    // Settled lines need only their count. The loop below visits the rest, so once nearly every line
    // settles it runs rarely: V8 then never spends 100 ms re-optimising this function's big body.
    fastRead += settled;
    const visits = lines - settled;
    const batchStart = start;
    for (let x = 0; x < visits; x++) {
      const l = settled === 0 ? x : visit[x];
      const mo = l * META;
      const lineStart = l === 0 ? batchStart : meta[mo - META] + 1;
      const end = meta[mo];
      const lineNo = input.firstLine + i + l;
      const kind = meta[mo + 1];
      if (kind === 3) {
        fastRead++;
        fastSkipped++;
        continue;
      }
      if (kind === 0) {
        // An empty line (the one after a chunk's last newline, most often) is skipped without decoding anything.
        if (end === lineStart) continue;
        chunkValid ??= isUtf8(buf);
        generalLine(decodeLine(buf, lineStart, end, chunkValid), lineNo);
        worstTop = topWorst();
        continue;
      }
      // Same checks, stats and entry as the general path, from the scanned bytes; see fast-line.ts for why it is exact.
      const idStart = meta[mo + 2];
      const idEnd = meta[mo + 3];
      const ro = l * k;
      fastRead++;
      let id: string | undefined;
      if (excluding && !keyed) {
        id = fastString(buf, idStart, idEnd)!;
        if (isExcluded(input.exclude!, id, fastString(buf, meta[mo + 6], meta[mo + 7]))) {
          fastSkipped++;
          continue;
        }
      }
      const score = fast!.kernel(probs, ro, k);
      fastScored++;
      scoreHist[binIndex(score, lo, hi, SCORE_BINS)]++;
      // Confidence, entropy and label counts, as the general path computes them for the same record.
      let best = -1;
      let bestJ = 0;
      // The entropy kernel runs the same operations in the same (label) order, so its score is this sum to the bit.
      let ent = entropyIsScore ? score : 0;
      for (let j = 0; j < k; j++) {
        if (present[ro + j] === 0) continue;
        const p = probs[ro + j];
        if (p > best) {
          best = p;
          bestJ = j;
        }
        if (singleLabel && !entropyIsScore && p > 0) ent -= p * Math.log(p);
      }
      confidenceHist[binIndex(best, 0, 1, CONFIDENCE_BINS)]++;
      confidenceNano += Math.round(best * 1e9);
      entropyNano += Math.round(ent * 1e9);
      if (singleLabel) labelN[bestJ]++;
      else for (let j = 0; j < k; j++) if (probs[ro + j] >= 0.5) labelN[j]++;
      // Most records lose to both heaps' worst on score (and audit draw, hashed from the id's bytes) alone: they never become strings.
      // Safe because `floor` and a full heap's worst are each the K-th best of K distinct ids (see
      // NativeSettle in settle.ts), and a row below the audit heap's worst draw cannot enter it.
      const mayTop = score >= floor && score >= worstTop;
      let u = NaN;
      let mayAudit = false;
      if (auditing) {
        u = keyed ? draws[l] : auditDraw(buf, idStart, idEnd);
        const wa = audit.worst();
        mayAudit = audit.size < audit.capacity || (wa !== undefined && u <= wa.u);
      }
      if (!mayTop && !mayAudit) continue;
      if (offerFast(l, lineStart, lineNo, score, u, mayTop, mayAudit, id)) worstTop = topWorst();
    }
    i += lines;
    start = meta[(lines - 1) * META] + 1; // past n after the last line
  }
  foldSettled(counts, stats, labelN);
  stats.read += fastRead;
  stats.scored += fastScored;
  stats.skipped += fastSkipped;
  stats.confidenceNano += confidenceNano;
  stats.entropyNano += entropyNano;
  for (let j = 0; j < k; j++) if (labelN[j] > 0) stats.labelCounts[labels[j]] = (stats.labelCounts[labels[j]] ?? 0) + labelN[j];

  // long: one record's checks in field order, sharing the chunk's counters and heaps by closure; split,
  // every line would pass them along. Only lines the fast parser cannot take come here.
  function generalLine(line: string | null, lineNo: number): void {
    if (line !== null && line.trim().length === 0) return;
    stats.read++;
    const reject = (reason: string, field?: string, id?: string) => {
      stats.rejected++;
      const r: Reject = { object: input.object, line: lineNo, reason };
      if (field !== undefined) r.field = field;
      if (id !== undefined) r.id = id;
      rejects.push(r);
    };
    if (line === null) {
      reject('invalid UTF-8');
      return;
    }
    if (line.length > input.maxLineBytes) {
      reject(`line longer than ${input.maxLineBytes} bytes`);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      reject(`malformed JSON: ${(err as Error).message}`);
      return;
    }
    const deep = mayNestDeeperThan(line) ? nestingViolation(value) : null;
    if (deep !== null) {
      reject(deep.reason, deep.field ?? undefined);
      return;
    }
    if (seg !== null) {
      segmentationEntry(value, lineNo, seg, reject);
      return;
    }
    const norm = normalizeRecord(value, nopts);
    if (!norm.ok) {
      reject(norm.reason, norm.field, norm.id);
      return;
    }
    const rec = norm.record;
    if (excluding && isExcluded(input.exclude!, rec.id, rec.model)) {
      stats.skipped++;
      return;
    }
    const scored = scoreRecord(rec, input.labels, input.strategy);
    if (!scored.ok) {
      reject(scored.reason, scored.field, rec.id);
      return;
    }
    stats.scored++;
    stats.scoreHist[binIndex(scored.score, lo, hi, SCORE_BINS)]++;
    if (rec.probs) {
      let best = -1;
      let bestLabel = '';
      let ent = 0;
      for (const l of input.labels) {
        const p = rec.probs[l];
        if (p === undefined) continue;
        if (p > best) {
          best = p;
          bestLabel = l;
        }
        if (singleLabel && p > 0) ent -= p * Math.log(p);
      }
      if (best >= 0) {
        stats.confidenceHist[binIndex(best, 0, 1, CONFIDENCE_BINS)]++;
        stats.confidenceNano += Math.round(best * 1e9);
        stats.entropyNano += Math.round(ent * 1e9);
        if (singleLabel) stats.labelCounts[bestLabel] = (stats.labelCounts[bestLabel] ?? 0) + 1;
        else for (const l of input.labels) if ((rec.probs[l] ?? 0) >= 0.5) stats.labelCounts[l] = (stats.labelCounts[l] ?? 0) + 1;
      }
    } else if (rec.spans || rec.boxes) {
      for (const s of rec.spans ?? rec.boxes ?? []) stats.labelCounts[s.label] = (stats.labelCounts[s.label] ?? 0) + 1;
    }
    const entry: ScoredEntry = {
      id: rec.id,
      score: scored.score,
      u: NaN,
      source: { object: input.object, line: lineNo },
      record: rec,
    };
    // The audit draw (two hashes) is only paid for records that can use it.
    const keepTop = scored.score >= floor && top.wouldKeep(entry);
    if (keepTop || input.auditK > 0) entry.u = uniform01(input.strategy.seed, rec.id);
    // Only retained entries pay for slimming; most records are dropped by the heaps.
    if (keepTop) top.push({ ...entry, record: slim(rec, input.keepEmbedding, input.keepRecords) });
    if (input.auditK > 0 && audit.wouldKeep(entry)) audit.push({ ...entry, record: slim(rec, false, input.keepRecords) });
  }
  /**
   * An image-segmentation line: masks are decoded and scored here, one image
   * at a time; only an entry a heap keeps is traced into polygons
   * (scoring/segmentation/line.ts says why rejects stay independent of that).
   */
  function segmentationEntry(
    value: unknown,
    lineNo: number,
    ctx: SegmentationLineContext,
    reject: (reason: string, field?: string, id?: string) => void,
  ): void {
    const ident = segmentationIdentity(value);
    if (excluding && ident !== null && isExcluded(input.exclude!, ident.id, ident.model)) {
      stats.skipped++;
      return;
    }
    let r: ReturnType<typeof segmentationLine>;
    try {
      r = segmentationLine(value, ctx);
    } catch (err) {
      // A mask no check above foresaw (an allocation too large, a malformed structure): the line's reject, never the object's failure.
      reject(`mask could not be read: ${(err as Error).message}`, '(record)', ident?.id);
      return;
    }
    if (!r.ok) {
      reject(r.reason, r.field, r.id);
      return;
    }
    stats.scored++;
    stats.scoreHist[binIndex(r.score, lo, hi, SCORE_BINS)]++;
    for (const l of r.labelsPresent) stats.labelCounts[l] = (stats.labelCounts[l] ?? 0) + 1;
    const entry: ScoredEntry = { id: r.id, score: r.score, u: NaN, source: { object: input.object, line: lineNo }, record: { id: r.id } };
    const keepTop = r.score >= floor && top.wouldKeep(entry);
    if (keepTop || input.auditK > 0) entry.u = uniform01(input.strategy.seed, r.id);
    const keepAudit = input.auditK > 0 && audit.wouldKeep(entry);
    if (!keepTop && !keepAudit) return;
    const rec = r.record();
    if (keepTop) top.push({ ...entry, record: slim(rec, false, input.keepRecords) });
    if (keepAudit) audit.push({ ...entry, record: slim(rec, false, input.keepRecords) });
  }
  stats.confidenceSum = stats.confidenceNano / 1e9;
  stats.entropySum = stats.entropyNano / 1e9;
  // Key order would otherwise depend on which path counted a label first.
  stats.labelCounts = Object.fromEntries(Object.entries(stats.labelCounts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  // Segments split on \n; the empty one after a final newline is not a line.
  const lines = n === 0 || buf[n - 1] === 10 ? i - 1 : i;
  const kept = { top: top.values(), audit: audit.values() };
  for (const e of [...kept.top, ...kept.audit]) {
    const at = unbuilt.get(e);
    if (at !== undefined) {
      unbuilt.delete(e);
      build(e, at);
    }
  }
  // Losing copies of kept ids follow the kept entries (see topk.ts): the main thread's heaps report duplicates from them.
  // A fast copy may not have drawn yet; every entry leaves with its draw, as the general path gives it.
  const copy = (e: ScoredEntry) => copyEntry(Number.isNaN(e.u) ? { ...e, u: uniform01(input.strategy.seed, e.id) } : e);
  return { top: [...kept.top, ...top.copies().map(copy)], audit: [...kept.audit, ...audit.copies().map(copy)], rejects, stats, lines };
}

/** A losing copy as it travels: its rank and its place in the input, no record (it is never queued). */
export function copyEntry(e: ScoredEntry): ScoredEntry {
  return { id: e.id, score: e.score, u: e.u, source: e.source, record: { id: e.id } };
}
