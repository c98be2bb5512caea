/**
 * The last phase every round shares: the queue files, the manifest's common
 * fields, and the manifest itself, written create-only as the round's commit
 * point (a round exists iff its manifest exists).
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { PredictionRecord } from '../../scoring/types.js';
import { ReviewloopError } from '../../domain/errors.js';
import { defaultView, type TaskContext, type View } from '../../domain/prodigy/tasks.js';
import { MEDIA_TASKS, gcsMediaUris, signMediaUrls } from '../media/task-media.js';
import { splitQueue } from '../../domain/prodigy/annotators.js';
import type { RoundManifest } from '../../domain/records.js';
import { roundEventTime } from '../../domain/round-id.js';
import type { Logger } from '../core/log.js';
import { jsonFile, jsonLines, writeOnce } from '../store/write-once.js';
import { commitClaims } from './claims.js';
import { roundDir, writeRoundStats } from './history.js';
import type { OpenRound, RoundOptions, RoundPlan } from './types.js';

/** The queue file, plus one per annotator when the project splits its queue. */
export function queueFilesOf(dir: string, tasks: Array<Record<string, unknown>>, project: ProjectConfig): Array<[string, string]> {
  const queueFiles: Array<[string, string]> = [[`${dir}/queue.jsonl`, jsonLines(tasks)]];
  if (project.queue.annotators && project.queue.annotators.length > 0) {
    for (const [annotator, list] of splitQueue(tasks, project.queue.annotators, project.queue.overlap)) {
      queueFiles.push([`${dir}/queue-${annotator}.jsonl`, jsonLines(list)]);
    }
  }
  return queueFiles;
}

/**
 * What every queue task of the round shares. Media tasks get their URLs signed
 * at the plan's pinned instant, so a rerun writes the same queue bytes.
 * `media`: the queued records, whose gs:// URIs are signed.
 */
export async function taskContext(
  opts: RoundOptions,
  round: OpenRound,
  strategy: string,
  media: ReadonlyArray<Partial<PredictionRecord>>,
): Promise<TaskContext> {
  const { project } = opts;
  const view: View = (project.queue.view as View | undefined) ?? defaultView(project.task);
  return {
    project: project.name,
    round: round.roundId,
    task: project.task,
    view,
    labels: project.labels,
    strategy,
    acceptThreshold: project.queue.acceptThreshold,
    mediaUrl:
      opts.mediaUrl ??
      (MEDIA_TASKS.has(project.task)
        ? await signMediaUrls(gcsMediaUris(media), {
            ttlSeconds: project.queue.signedUrlTtlSeconds,
            signedAt: round.plan.mediaSignedAt,
            signer: opts.mediaSigner,
            logger: round.log,
          })
        : undefined),
  };
}

/** Fails the round (nothing consumed, rejects.jsonl already written) when too much of what it read was invalid. */
export function assertRejectRatio(opts: RoundOptions, roundId: string, rejected: number, read: number, what: string): void {
  const max = opts.project.strategy.maxRejectRatio;
  if (read === 0 || rejected / read <= max) return;
  const uri = opts.store.uri(`${roundDir(roundId)}/rejects.jsonl`);
  throw new ReviewloopError(
    'REJECT_RATIO_EXCEEDED',
    `round ${roundId}: ${rejected} of ${read} ${what} rejected (${((100 * rejected) / read).toFixed(1)}% > ${(100 * max).toFixed(1)}%); see ${uri}`,
    { details: { round: roundId } },
  );
}

/** The fields every round manifest starts with, whatever its kind. */
export function manifestHead(
  project: ProjectConfig,
  roundId: string,
  plan: Pick<RoundPlan, 'updatedMax'>,
): Pick<RoundManifest, 'kind' | 'schemaVersion' | 'project' | 'round' | 'slotTime' | 'task'> {
  return {
    kind: 'reviewloop.round',
    schemaVersion: 1,
    project: project.name,
    round: roundId,
    slotTime: roundEventTime(roundId, plan.updatedMax),
    task: project.task,
  };
}

/** The files a round wrote and where its listing got to. */
export function manifestFiles(
  dir: string,
  queueFiles: Array<[string, string]>,
  plan: { objects: ReadonlyArray<{ name: string }> },
): Pick<RoundManifest, 'files' | 'listedUpTo'> {
  return {
    files: { queue: queueFiles.map(([n]) => n), rejects: `${dir}/rejects.jsonl`, items: `${dir}/items.jsonl` },
    listedUpTo: plan.objects.length > 0 ? plan.objects[plan.objects.length - 1].name : null,
  };
}

/** Writes the manifest last (the round's commit point), logs `summary`, records its stats. */
export async function commitManifest<M extends RoundManifest>(
  opts: RoundOptions,
  manifest: M,
  previous: RoundManifest[],
  log: Logger,
  summary: string,
): Promise<{ status: 'created' | 'exists'; manifest: M }> {
  // A round aborted (past its time bound, or at shutdown) never commits, however late it gets here.
  opts.signal?.throwIfAborted();
  // A round released by another planner (its claims taken over) must not commit: CONFLICT here.
  await commitClaims(opts.store, manifest.round);
  const { created } = await writeOnce(opts.store, `${roundDir(manifest.round)}/manifest.json`, jsonFile(manifest));
  log.info(`round ${manifest.round} ${created ? 'written' : 'already written by another run'}: ${summary}`);
  await writeRoundStats(opts, manifest, [...previous, manifest]);
  return { status: created ? 'created' : 'exists', manifest };
}
