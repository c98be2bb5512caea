/**
 * Per run, the K best scores a scoring thread has kept so far, as a floor for
 * its next tasks of that run. The run's own floor travels with each task but
 * rises only once results are back on the main thread, so a thread's next
 * chunks used to fill their heaps (and build records) for rows the thread
 * already knew could not make the top. Any K scores of a run bound its final
 * K-th best from below, so both floors are valid and the higher is used; the
 * results never depend on it, only the work done.
 */

interface RunFloor { k: number; heap: Float64Array; size: number }

/** Runs remembered per thread: a daemon's pool serves one run after another. */
const MAX_RUNS = 8;

export class ThreadFloors {
  private readonly runs = new Map<string, RunFloor>();

  /** The floor for a task of `run` keeping `k` entries: -Infinity until the thread has seen k scores. */
  floor(run: string | undefined, k: number): number {
    const r = run === undefined ? undefined : this.runs.get(run);
    return r !== undefined && r.k === k && r.size === k ? r.heap[0] : -Infinity;
  }

  /** Adds the scores a finished task of `run` kept (its top entries). */
  note(run: string | undefined, k: number, scores: Iterable<number>): void {
    if (run === undefined || !Number.isInteger(k) || k <= 0 || k > 1 << 20) return;
    let r = this.runs.get(run);
    if (r === undefined || r.k !== k) {
      if (this.runs.size >= MAX_RUNS) this.runs.delete(this.runs.keys().next().value as string);
      r = { k, heap: new Float64Array(k), size: 0 };
      this.runs.set(run, r);
    }
    for (const s of scores) if (!Number.isNaN(s)) push(r, s);
  }
}

/** Min-heap of the k largest values seen. */
function push(r: RunFloor, s: number): void {
  const h = r.heap;
  if (r.size < r.k) {
    let i = r.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p] <= s) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = s;
    return;
  }
  if (s <= h[0]) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= r.k) break;
    const c = l + 1 < r.k && h[l + 1] < h[l] ? l + 1 : l;
    if (h[c] >= s) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = s;
}
