/**
 * The first phase every round shares: is it already complete, and if not,
 * its plan — the inputs it consumes and the history it excludes — pinned in
 * plan.json before anything is scored or sampled.
 */
import type { ProjectConfig, StrategyConfig, strategyNames } from '../../config/schema.js';
import { ReviewloopError } from '../../domain/errors.js';
import type { RoundManifest } from '../../domain/records.js';
import { validateRoundId } from '../../domain/round-id.js';
import { silentLogger } from '../core/log.js';
import { MEDIA_TASKS, signingInstant } from '../media/task-media.js';
import { readLatest } from '../snapshot/snapshot.js';
import { unconsumedObjects } from '../store/listing.js';
import { firstWriteWins, readJson } from '../store/write-once.js';
import { assertNotReleased, claimObjects } from './claims.js';
import { listRounds, roundDir, writeRoundStats } from './history.js';
import type { OpenRound, PlanFields, RoundKind, RoundOptions, RoundPlan, RoundResult } from './types.js';

/** A prediction project's strategy, typed as a scoring strategy (the schema keeps sampling names to raw projects). */
export function scoringStrategy(project: ProjectConfig): StrategyConfig & { name: (typeof strategyNames)[number] } {
  const s = project.strategy;
  if (project.predictions.format === 'objects' || s.name === 'stratified-random' || s.name === 'sequential') {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `project ${project.name}: raw objects (predictions.format: objects, strategy ${s.name}) are sampled by whole rounds, not scored`,
    );
  }
  if (s.name === 'label-issues') {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `project ${project.name}: label-issues rounds question labels in three passes (worker/round/label-round.ts); they do not score records one by one`,
    );
  }
  return s as StrategyConfig & { name: (typeof strategyNames)[number] };
}

/** The seed of a round's audit draws and samples: the project's seed and the round id, so a rerun draws the same. */
export function seedFor(project: ProjectConfig, roundId: string): string {
  return `${String(project.strategy.seed)}:${roundId}`;
}

/** Plans the round once: a rerun, or another replica that planned first, reads the same plan. */
async function planRound(opts: RoundOptions, kind: RoundKind, roundId: string, previous: RoundManifest[]): Promise<RoundPlan> {
  const { store, project } = opts;
  const now = (opts.mediaSigner?.now ?? Date.now)();
  const name = `${roundDir(roundId)}/plan.json`;
  await assertNotReleased(store, roundId);
  const existing = await readJson<RoundPlan>(store, name);
  if (existing && existing.kind !== kind.planKind) {
    throw new ReviewloopError(
      'CONFIG_INVALID',
      `${store.uri(name)} plans a round of another kind, but project ${project.name} now runs ${kind.label} rounds; use another round id`,
    );
  }
  if (existing) return existing;
  const bigquery = kind.pin ? await kind.pin(opts, now) : undefined;
  const listed = kind.accept ? await claimNewObjects(opts, kind, roundId, previous) : { objects: [], updatedMax: null, listedFrom: undefined };
  const fields: PlanFields = {
    round: roundId,
    ...listed,
    previousRounds: previous.map((m) => m.round),
    snapshotVersion: (await readLatest(store))?.pointer.version ?? null,
    ...(MEDIA_TASKS.has(project.task) ? { mediaSignedAt: signingInstant(now) } : {}),
    ...(bigquery ? { bigquery } : {}),
  };
  // Another replica may have planned this round first: then its plan is used, so both produce the same bytes.
  return firstWriteWins(store, name, kind.planShape(fields));
}

/** The objects under the prefix no earlier round consumed, less those a concurrent round claimed first. */
async function claimNewObjects(
  opts: RoundOptions,
  kind: RoundKind,
  roundId: string,
  previous: RoundManifest[],
): Promise<Pick<PlanFields, 'objects' | 'updatedMax' | 'listedFrom'>> {
  const { store, project } = opts;
  const found = await unconsumedObjects(store, project.predictions.prefix, {
    consumed: previous.flatMap((m) => m.consumed),
    runsBefore: previous.length,
    listing: project.predictions.listing,
    accept: kind.accept!(project),
  });
  // Rounds with other ids planning at the same time: each object goes to the one whose claim lands (worker/round/claims.ts).
  const mine = await claimObjects(store, roundId, found.objects, opts.claims);
  let updatedMax: string | null = null;
  for (const o of mine) if (updatedMax === null || o.updated > updatedMax) updatedMax = o.updated;
  return { objects: mine.map(kind.planned), updatedMax, listedFrom: found.listedFrom };
}

/**
 * Opens a round of `kind`: `exists` when its manifest is already there (its
 * stats rows are written again, a no-op when present), else its plan and the
 * earlier rounds the plan pins as history.
 */
export async function openRound(opts: RoundOptions, kind: RoundKind): Promise<{ exists: RoundResult } | { open: OpenRound }> {
  const { project, store } = opts;
  const roundId = validateRoundId(opts.roundId);
  const log = (opts.logger ?? silentLogger).child({ project: project.name, round: roundId, job: 'round' });
  const all = await listRounds(store);
  const done = all.find((m) => m.round === roundId);
  if (done) {
    log.info(`round ${roundId} already complete; nothing changed`);
    await writeRoundStats(opts, done, all);
    return { exists: { status: 'exists', manifest: done } };
  }
  const plan = await planRound(opts, kind, roundId, all);
  // A plan without previousRounds pins no history: the rounds complete now stand in.
  const pinned = new Set(plan.previousRounds ?? all.map((m) => m.round));
  const previous = all.filter((m) => pinned.has(m.round));
  return { open: { roundId, plan, previous, seed: seedFor(project, roundId), log } };
}
