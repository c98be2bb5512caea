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
import type { ScoreTaskInput, ScoreTaskOutput } from './score-task.js';

type TaskModule = typeof import('./score-task.js');

const loading: Promise<TaskModule> = import('./score-task.js');
// Awaited by every task; this only keeps a failed load from being an unhandled rejection meanwhile.
loading.catch(() => undefined);

export async function scoreChunk(input: ScoreTaskInput): Promise<ScoreTaskOutput> {
  return (await loading).scoreChunk(input as Parameters<TaskModule['scoreChunk']>[0]);
}

export async function scoreArrow(input: ScoreTaskInput): Promise<ScoreTaskOutput> {
  return (await loading).scoreArrow(input as Parameters<TaskModule['scoreArrow']>[0]);
}
