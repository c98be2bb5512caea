/**
 * Splits a queue between named annotators: each item goes to `overlap`
 * reviewers, assigned round-robin from the item's rank so the split is the
 * same on every rerun and overlap is spread evenly (for agreement stats).
 * Each annotator's file keeps the global priority order.
 */
export function splitQueue<T>(tasks: T[], annotators: string[], overlap: number): Map<string, T[]> {
  const out = new Map<string, T[]>(annotators.map((a) => [a, []]));
  const n = annotators.length;
  const k = Math.min(Math.max(1, overlap), n);
  tasks.forEach((task, i) => {
    for (let j = 0; j < k; j++) out.get(annotators[(i + j) % n])!.push(task);
  });
  return out;
}

/** Object metadata key under which `push-annotations --name` records the reviewer who owns an export. */
export const ANNOTATOR_METADATA_KEY = 'reviewloop-annotator';
