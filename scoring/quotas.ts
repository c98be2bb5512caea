/**
 * Per-label quotas: guarantee each predicted label a minimum number of queue
 * slots, so a rare class is not crowded out by a frequent, uncertain one.
 *
 * Rule:
 * 1. candidates are put in global rank order (score desc, id asc; repeated ids
 *    keep their best entry);
 * 2. quota slots are filled round-robin: round r gives every label whose
 *    quota exceeds r its (r+1)-th best candidate, the picks of one round taken
 *    in global rank order, until K is reached. When the quotas fit in K this
 *    is simply "each label's best min(quota, available)"; when they do not,
 *    every label still gets a fair share instead of the best-scoring label
 *    taking all quota slots;
 * 3. the remaining slots go to the best-ranked candidates not yet chosen;
 * 4. the selection is returned in global rank order.
 * Deterministic: independent of input order and of the quotas' key order.
 */

import { compareRanked } from './topk.js';

/** A ranked candidate with its predicted (argmax) label; undefined when it has none. */
export interface QuotaCandidate {
  id: string;
  score: number;
  label: string | undefined;
}

/** What `applyQuotas` chose, and which quotas it could not meet. */
export interface QuotaSelection<T> {
  /** At most K candidates, in global rank order. */
  selected: T[];
  /** label → unmet quota slots (too few candidates, or quotas summing past K); only labels with a shortfall. */
  shortfall: Record<string, number>;
}

/**
 * Selects `k` candidates honouring minimum per-label `quotas`
 * (`{label: minSlots}`; negative, NaN or fractional values are floored at 0).
 * Candidates with a NaN score are ignored.
 */
export function applyQuotas<T extends QuotaCandidate>(candidates: readonly T[], k: number, quotas: Readonly<Record<string, number>>): QuotaSelection<T> {
  const sorted = candidates.filter((c) => !Number.isNaN(c.score)).sort(compareRanked);
  const ranked: T[] = [];
  for (const c of sorted) {
    if (ranked.length > 0 && ranked[ranked.length - 1].id === c.id) continue;
    ranked.push(c);
  }
  const want = Number.isNaN(k) ? 0 : Math.min(Math.max(0, Math.floor(k)), ranked.length);

  // Per-label quota and candidate positions (in rank order), labels sorted for stable bookkeeping.
  const quota = new Map<string, number>();
  for (const label of Object.keys(quotas).sort()) {
    const q = quotas[label];
    const n = Number.isFinite(q) ? Math.max(0, Math.floor(q)) : 0;
    if (n > 0) quota.set(label, n);
  }
  const positions = new Map<string, number[]>();
  for (const label of quota.keys()) positions.set(label, []);
  for (let i = 0; i < ranked.length; i++) {
    const label = ranked[i].label;
    if (label !== undefined) positions.get(label)?.push(i);
  }

  const chosen = new Uint8Array(ranked.length);
  let count = 0;
  for (let round = 0; count < want; round++) {
    const picks: number[] = [];
    for (const [label, q] of quota) {
      const pos = positions.get(label)!;
      if (round < q && round < pos.length) picks.push(pos[round]);
    }
    if (picks.length === 0) break;
    picks.sort((a, b) => a - b);
    for (const i of picks) {
      if (count >= want) break;
      chosen[i] = 1;
      count++;
    }
  }
  for (let i = 0; i < ranked.length && count < want; i++) {
    if (chosen[i] === 0) {
      chosen[i] = 1;
      count++;
    }
  }

  const selected: T[] = [];
  const got = new Map<string, number>();
  for (let i = 0; i < ranked.length; i++) {
    if (chosen[i] === 0) continue;
    const c = ranked[i];
    selected.push(c);
    // Slots filled by global rank count towards a label's quota too.
    if (c.label !== undefined && quota.has(c.label)) got.set(c.label, (got.get(c.label) ?? 0) + 1);
  }
  const missing: [string, number][] = [];
  for (const [label, q] of quota) {
    const n = got.get(label) ?? 0;
    if (n < q) missing.push([label, q - n]);
  }
  // fromEntries defines own properties, so a label such as "__proto__" is safe.
  return { selected, shortfall: Object.fromEntries(missing) };
}
