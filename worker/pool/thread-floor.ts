/**
 * Per run, the K best ids a scoring thread has kept so far, as a floor for
 * its next tasks of that run. The run's own floor travels with each task but
 * rises only once results are back on the main thread, so a thread's next
 * chunks would fill their heaps (and build records) for rows the thread
 * already knew could not make the top.
 *
 * Invariant that makes the floor safe: the run's final top heap holds the K
 * best distinct ids, each by its best copy (scoring/topk.ts). K distinct ids
 * whose scores are at least F prove that the final K-th best is at least F,
 * so a row scoring below F can never be kept. The floor therefore counts ids,
 * not scores: the same id kept by two tasks (a duplicated record) is one of
 * the K, and a floor is only ever used for the key (run and object) and the K
 * it was kept for.
 * The results never depend on it, only the work done.
 */
import { TopK } from '../../scoring/topk.js';

interface Kept {
  id: string;
  score: number;
}
interface RunFloor {
  k: number;
  heap: TopK<Kept>;
}

/** Floors remembered per thread (one per run and object, see score-task.ts): a daemon's pool serves one run after another. */
const MAX_RUNS = 64;

export class ThreadFloors {
  private readonly runs = new Map<string, RunFloor>();

  /** The floor for a task of `run` keeping `k` entries: -Infinity until the thread has seen k distinct ids. */
  floor(run: string | undefined, k: number): number {
    const r = run === undefined ? undefined : this.runs.get(run);
    if (r === undefined || r.k !== k || r.heap.size < k) return -Infinity;
    return r.heap.worst()!.score;
  }

  /** Adds the entries a finished task of `run` kept (its top entries). */
  note(run: string | undefined, k: number, kept: Iterable<Kept>): void {
    if (run === undefined || !Number.isInteger(k) || k <= 0 || k > 1 << 20) return;
    let r = this.runs.get(run);
    if (r === undefined || r.k !== k) {
      if (this.runs.size >= MAX_RUNS) this.runs.delete(this.runs.keys().next().value as string);
      r = { k, heap: new TopK<Kept>(k) };
      this.runs.set(run, r);
    }
    // Only id and score: the heap's tie-break by source is irrelevant to the K-th best score.
    for (const e of kept) r.heap.push({ id: e.id, score: e.score });
  }
}
