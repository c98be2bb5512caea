/** Adapts the pure diversity and quota selectors in scoring/ to queue entries. */
import { kCenterGreedy } from '../scoring/diversity.js';
import { applyQuotas } from '../scoring/quotas.js';
import type { ScoredEntry } from '../scoring/types.js';
import { ReviewloopError } from './errors.js';

/** k-center greedy over embeddings; the queue keeps pick order (best first, then most different). */
export function kCenterSelect(cands: ScoredEntry[], k: number): ScoredEntry[] {
  const missing = cands.find((c) => c.record.embedding === undefined);
  if (missing) {
    throw new ReviewloopError(
      'INPUT_INVALID',
      `diversity selection needs an embedding on every candidate; ${missing.source.object} line ${missing.source.line} (id ${missing.id}) has none`,
      { details: { field: 'embedding' } },
    );
  }
  const result = kCenterGreedy(
    cands.map((c) => ({ id: c.id, score: c.score, embedding: c.record.embedding! })),
    k,
  );
  if (!result.ok)
    throw new ReviewloopError('INPUT_INVALID', `diversity selection failed on id ${result.id}: ${result.field} ${result.reason}`, {
      details: { field: result.field },
    });
  const byId = new Map(cands.map((c) => [c.id, c]));
  return result.ids.map((id) => byId.get(id)!);
}

export function quotaSelect(ranked: ScoredEntry[], k: number, quotas: Record<string, number>, labelOf: (e: ScoredEntry) => string | null): ScoredEntry[] {
  const wrapped = ranked.map((entry) => ({ id: entry.id, score: entry.score, source: entry.source, label: labelOf(entry) ?? undefined, entry }));
  return applyQuotas(wrapped, k, quotas).selected.map((w) => w.entry);
}
