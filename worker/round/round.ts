/**
 * One correction round, whatever its kind: open it (already complete? else
 * plan: pin the inputs and history), produce candidates (score prediction
 * objects, query a BigQuery table, or sample raw objects), select, write the
 * queue, items and rejects, then commit the manifest last (create-only).
 * A round exists iff its manifest exists; every earlier file is written
 * create-only with deterministic bytes, so a rerun after a crash completes
 * the same round byte for byte. Sharded rounds (shard.ts) share the open and
 * finish phases and split the scoring.
 */
import type { ProjectConfig } from '../../config/schema.js';
import { LABEL_ISSUE_ROUND } from './label-round.js';
import { openRound } from './open.js';
import { RAW_ROUND } from './raw-round.js';
import { PREDICTION_ROUND } from './score-round.js';
import type { RoundKind, RoundOptions, RoundResult } from './types.js';

/** The kind of round a project runs. The BigQuery kind is loaded on demand: local rounds never load its client. */
export async function roundKindOf(project: ProjectConfig): Promise<RoundKind> {
  if (project.predictions.format === 'objects') return RAW_ROUND;
  if (project.strategy.name === 'label-issues') return LABEL_ISSUE_ROUND;
  if (project.strategy.engine === 'bigquery') return (await import('./bq-round.js')).BIGQUERY_ROUND;
  return PREDICTION_ROUND;
}

export async function runRound(opts: RoundOptions): Promise<RoundResult> {
  const kind = await roundKindOf(opts.project);
  const opened = await openRound(opts, kind);
  if ('exists' in opened) return opened.exists;
  return kind.run(opts, opened.open);
}
