/**
 * The file piscina loads in each scoring thread. piscina loads task files with
 * require(), and Node 20's require() of an ES module aborts the whole process
 * when the thread is terminated while that module is being instantiated
 * (V8: "IsGraphAsync must be used on an instantiated module"). A pool closed
 * just after it started, as on a usage error, could hit that: 1 run in ~160
 * under load. This CommonJS file loads the ESM task module with import(),
 * which a terminated thread abandons cleanly, and starts doing so at once, so
 * the module still loads while the thread waits for its first task.
 */
import { serialize } from 'node:v8';
import type { ScoreTaskInput, ScoreTaskOutput } from './score-task.js';

type TaskModule = typeof import('./score-task.js');

const loading: Promise<TaskModule> = import('./score-task.js');
// Awaited by every task; this only keeps a failed load from being an unhandled rejection meanwhile.
loading.catch(() => undefined);

/**
 * A task's result leaves the thread already serialized: piscina posts the bytes (a flat copy) and the main
 * thread deserializes them itself (worker/pool/pool.ts). A result the main thread could not deserialize would
 * otherwise surface only as a `messageerror` on piscina's port, which piscina ignores: its task would never
 * settle. Serialization failing here is returned as the task's failure for the same reason.
 */
function deliverable(out: ScoreTaskOutput): Uint8Array | ScoreTaskOutput {
  try {
    return serialize(out);
  } catch (err) {
    return { ok: false, code: 'RESULT_UNDELIVERABLE', message: `the result could not be serialized: ${(err as Error).message}` };
  }
}

export async function scoreChunk(input: ScoreTaskInput): Promise<Uint8Array | ScoreTaskOutput> {
  return deliverable(await (await loading).scoreChunk(input as Parameters<TaskModule['scoreChunk']>[0]));
}

// Label-issue passes load their own module on first use: uncertainty rounds never load it.
let labelTask: Promise<typeof import('./label-task.js')> | null = null;

export async function labelIssuesChunk(input: unknown): Promise<Uint8Array | ScoreTaskOutput> {
  labelTask ??= import('./label-task.js');
  const out = (await labelTask).labelIssuesTask(input as Parameters<typeof import('./label-task.js')['labelIssuesTask']>[0]);
  return deliverable(out as unknown as ScoreTaskOutput);
}

export async function scoreArrow(input: ScoreTaskInput): Promise<Uint8Array | ScoreTaskOutput> {
  return deliverable(await (await loading).scoreArrow(input as Parameters<TaskModule['scoreArrow']>[0]));
}
