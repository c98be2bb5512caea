/**
 * Scores one chunk of JSONL bytes: decode, parse, validate, skip excluded
 * items, score, keep the local top-K and audit candidates, count stats.
 * Pure and synchronous; the piscina task module wraps it.
 */
import { exclusionKey, hasKey, uniform01 } from './hash.js';
import { normalizeRecord, type NormalizeOptions } from './normalize.js';
import { scoreRange, scoreRecord } from './strategies.js';
import { BottomK, TopK } from './topk.js';
import type { ChunkStats, PredictionRecord, Reject, ScoreChunkInput, ScoredEntry } from './types.js';

export const CONFIDENCE_BINS = 10;
export const SCORE_BINS = 20;

export function emptyStats(): ChunkStats {
  return {
    read: 0, scored: 0, rejected: 0, skipped: 0,
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
  a.read += b.read; a.scored += b.scored; a.rejected += b.rejected; a.skipped += b.skipped;
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

/** Keeps only what the queue and the snapshot need, so K retained entries stay small. */
function slim(rec: PredictionRecord, keepEmbedding: boolean): PredictionRecord {
  if (keepEmbedding || rec.embedding === undefined) return rec;
  const { embedding: _dropped, ...rest } = rec;
  return rest;
}

export interface ChunkResult {
  top: ScoredEntry[];
  audit: ScoredEntry[];
  rejects: Reject[];
  stats: ChunkStats;
}

export function scoreChunkSync(input: ScoreChunkInput): ChunkResult {
  const labelSet = new Set(input.labels);
  const nopts: NormalizeOptions = { task: input.task, labels: input.labels, labelSet, probTolerance: input.probTolerance, format: input.format };
  const [lo, hi] = scoreRange(input.strategy.name, input.labels.length);
  const top = new TopK<ScoredEntry>(input.topK);
  const audit = new BottomK<ScoredEntry>(input.auditK);
  const rejects: Reject[] = [];
  const stats = emptyStats();
  const lines = decodeLines(input.chunk);
  const singleLabel = input.task !== 'textcat-multilabel';

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const lineNo = input.firstLine + i;
    if (line !== null && line.trim().length === 0) continue;
    stats.read++;
    const reject = (reason: string, field?: string, id?: string) => {
      stats.rejected++;
      const r: Reject = { object: input.object, line: lineNo, reason };
      if (field !== undefined) r.field = field;
      if (id !== undefined) r.id = id;
      rejects.push(r);
    };
    if (line === null) { reject('invalid UTF-8'); continue; }
    if (line.length > input.maxLineBytes) { reject(`line longer than ${input.maxLineBytes} bytes`); continue; }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      reject(`malformed JSON: ${(err as Error).message}`);
      continue;
    }
    const norm = normalizeRecord(value, nopts);
    if (!norm.ok) { reject(norm.reason, norm.field, norm.id); continue; }
    const rec = norm.record;
    if (input.exclude && input.exclude.length > 0 && hasKey(input.exclude, exclusionKey(rec.id, rec.model))) {
      stats.skipped++;
      continue;
    }
    const scored = scoreRecord(rec, input.labels, input.strategy);
    if (!scored.ok) { reject(scored.reason, scored.field, rec.id); continue; }
    stats.scored++;
    stats.scoreHist[binIndex(scored.score, lo, hi, SCORE_BINS)]++;
    if (rec.probs) {
      let best = -1;
      let bestLabel = '';
      let ent = 0;
      for (const l of input.labels) {
        const p = rec.probs[l];
        if (p === undefined) continue;
        if (p > best) { best = p; bestLabel = l; }
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
      u: uniform01(input.strategy.seed, rec.id),
      source: { object: input.object, line: lineNo },
      record: rec,
    };
    // Only retained entries pay for slimming; most records are dropped by the heaps.
    if (top.wouldKeep(entry)) top.push({ ...entry, record: slim(rec, input.keepEmbedding) });
    if (input.auditK > 0 && audit.wouldKeep(entry)) audit.push({ ...entry, record: slim(rec, false) });
  }
  stats.confidenceSum = stats.confidenceNano / 1e9;
  stats.entropySum = stats.entropyNano / 1e9;
  return { top: top.values(), audit: audit.values(), rejects, stats };
}
