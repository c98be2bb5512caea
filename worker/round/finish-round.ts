/**
 * What a scored round does with its candidates: select, write the queue,
 * items and rejects, and commit the manifest. Prediction rounds, BigQuery
 * rounds and the reduce of a sharded round all end here.
 */
import { scoreRange } from '../../scoring/strategies.js';
import type { ChunkStats, PredictionRecord, Reject, ScoredEntry } from '../../scoring/types.js';
import { buildTask } from '../../domain/prodigy/tasks.js';
import type { RoundManifest } from '../../domain/records.js';
import { select, type Selection } from '../../domain/select.js';
import { kCenterSelect, quotaSelect } from '../../domain/selection-plugins.js';
import { firstImageSize, headerImageSize, pinImageSizes, resolveImageSizes, storeImageSize } from '../media/box-sizes.js';
import { mediaHeadReader } from '../media/media-read.js';
import { writeQueueOnce } from '../media/task-media.js';
import { jsonLines, writeOnce } from '../store/write-once.js';
import { assertRejectRatio, commitManifest, manifestFiles, manifestHead, queueFilesOf, taskContext } from './commit.js';
import { roundDir } from './history.js';
import { scoringStrategy } from './open.js';
import type { OpenRound, RoundOptions, RoundResult, RoundScores } from './types.js';

/** Selection, queue, items, rejects, then the manifest last: everything after scoring. */
export async function finishRound(opts: RoundOptions, round: OpenRound, scores: RoundScores): Promise<RoundResult> {
  const { project, store } = opts;
  const { roundId, log } = round;
  const dir = roundDir(roundId);
  const strategy = scoringStrategy(project);
  const selection = select(scores.top, scores.audit, scores.stats.scored, {
    topK: strategy.topK,
    auditFraction: strategy.auditFraction,
    labels: project.labels,
    diversity: strategy.diversity,
    quotas: strategy.quotas,
    kCenter: kCenterSelect,
    applyQuotas: quotaSelect,
  });
  const lookup =
    opts.imageSize ??
    firstImageSize(storeImageSize(store), headerImageSize(opts.media ?? mediaHeadReader({ store, localFiles: store.localPath !== undefined })));
  const sizeHook = await pinImageSizes(store, `${dir}/image-sizes.json`, selection.items, lookup);
  const sizes = await resolveImageSizes(selection, sizeHook, (r) => scores.rejects.push(JSON.stringify(r)));
  // Records rejected for their image count as rejected, not scored, so counts match rejects.jsonl line for line.
  const stats: ChunkStats = { ...scores.stats, scored: scores.stats.scored - sizes.rejected, rejected: scores.stats.rejected + sizes.rejected };
  for (const d of sizes.deferred) log.warn(`round ${roundId}: ${d.object} line ${d.line} (${d.id ?? '?'}) deferred to the next round: ${d.reason}`);
  const ctx = await taskContext(
    opts,
    round,
    strategy.name,
    selection.items.map((i) => i.entry.record),
  );
  const queueFiles = queueFilesOf(
    dir,
    selection.items.map((item) => buildTask(ctx, item)),
    project,
  );
  const duplicates = duplicateRejects(selection.items, scores);
  scores.rejects.push(...duplicates.map((r) => JSON.stringify(r)));
  await writeOnce(store, `${dir}/rejects.jsonl`, scores.rejects.length > 0 ? `${scores.rejects.join('\n')}\n` : '', 'application/x-ndjson');
  assertRejectRatio(opts, roundId, stats.rejected, stats.read, 'records');
  for (const [name, text] of queueFiles) await writeQueueOnce(store, name, text, log);
  await writeOnce(store, `${dir}/items.jsonl`, itemsText(selection.items), 'application/x-ndjson');
  const manifest = scoredManifest(opts, round, { selection, stats, sizes, scores, duplicates: duplicates.length, queueFiles });
  return commitManifest(
    opts,
    manifest,
    round.previous,
    log,
    `${manifest.counts.queued} queued (${manifest.counts.audit} audit), ${stats.scored} scored, ${stats.rejected} rejected, ${duplicates.length} duplicate(s), ${stats.skipped} skipped, ${manifest.counts.quarantinedObjects} object(s) quarantined`,
  );
}

/** The model's full prediction per queued item: the merge joins it back for quality stats and lineage. */
function itemsText(items: Selection['items']): string {
  return jsonLines(
    items.map((i) => ({
      id: i.entry.id,
      rank: i.rank,
      audit: i.audit,
      p: i.audit ? (i.p ?? null) : null,
      score: i.entry.score,
      model: i.entry.record.model ?? null,
      source: `${i.entry.source.object}#L${i.entry.source.line}`,
      prediction: predictionOf(i.entry.record),
    })),
  );
}

interface Finished {
  selection: Selection;
  stats: ChunkStats;
  sizes: Awaited<ReturnType<typeof resolveImageSizes>>;
  scores: RoundScores;
  duplicates: number;
  queueFiles: Array<[string, string]>;
}

function scoredManifest(opts: RoundOptions, round: OpenRound, f: Finished): RoundManifest {
  const { project, store } = opts;
  const strategy = scoringStrategy(project);
  const { selection, stats, sizes, scores } = f;
  const models = [...new Set(selection.items.map((i) => i.entry.record.model).filter((m): m is string => m !== undefined))].sort();
  const deferredObjects = new Set(sizes.deferred.map((d) => d.object));
  return {
    ...manifestHead(project, round.roundId, round.plan),
    model: models.length === 0 ? null : models.join(','),
    strategy: {
      name: strategy.name,
      topK: strategy.topK,
      auditFraction: strategy.auditFraction,
      seed: round.seed,
      reduce: strategy.reduce,
      ...(strategy.diversity ? { diversity: strategy.diversity } : {}),
      ...(strategy.quotas ? { quotas: strategy.quotas } : {}),
    },
    labels: project.labels,
    // An object holding a deferred record stays unconsumed: the next round reads it again, and what
    // this round queued from it is excluded there as already queued (exclusionKeys).
    consumed: round.plan.objects.filter((o) => !deferredObjects.has(store.uri(o.name))).map((o) => ({ name: o.name, generation: o.generation, size: o.size })),
    counts: {
      read: stats.read,
      scored: stats.scored,
      rejected: stats.rejected,
      skipped: stats.skipped,
      queued: selection.items.length,
      audit: selection.auditCount,
      duplicates: f.duplicates,
      ...(sizes.deferred.length > 0 ? { deferred: sizes.deferred.length } : {}),
      quarantinedObjects: scores.quarantined?.length ?? 0,
    },
    ...(sizes.deferred.length > 0 ? { deferred: sizes.deferred } : {}),
    quarantined: scores.quarantined ?? [],
    auditPopulation: scores.stats.scored,
    stats,
    queuedScores: selection.items.filter((i) => !i.audit).map((i) => i.entry.score),
    scoreRange: scoreRange(strategy.name, project.labels.length),
    ...manifestFiles(roundDir(round.roundId), f.queueFiles, round.plan),
  };
}

/**
 * One reject line per copy of a queued id that either heap kept or listed as a
 * losing copy ranking before its worst entry (at most COPIES_PER_ID per id and
 * heap; see scoring/topk.ts), in input order. The two heaps may keep different
 * copies of one id (the best score; the first line, since copies share their
 * draw): whichever is queued, the other is a duplicate. The queued copy itself
 * is never one; it is named in the reason.
 */
export function duplicateRejects(items: ReadonlyArray<{ entry: ScoredEntry }>, scores: Pick<RoundScores, 'top' | 'audit' | 'copies'>): Reject[] {
  const queued = new Map(items.map((i) => [i.entry.id, i.entry.source]));
  const seen = new Set<string>();
  const out: Reject[] = [];
  for (const c of [...scores.top, ...scores.audit, ...scores.copies.top, ...scores.copies.audit]) {
    const kept = queued.get(c.id);
    const at = `${c.source.object}#L${c.source.line}`;
    if (kept === undefined || seen.has(at) || (kept.object === c.source.object && kept.line === c.source.line)) continue;
    seen.add(at);
    out.push({
      object: c.source.object,
      line: c.source.line,
      field: 'id',
      id: c.id,
      reason: `duplicate id: the copy at ${kept.object}#L${kept.line} is queued`,
    });
  }
  return out.sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : a.line - b.line));
}

function predictionOf(rec: PredictionRecord): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (rec.probs) p.probs = rec.probs;
  if (rec.spans) p.spans = rec.spans;
  if (rec.boxes) p.boxes = rec.boxes;
  if (rec.audio_spans) p.audio_spans = rec.audio_spans;
  return p;
}
