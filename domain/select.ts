/**
 * Turns the merged heaps into the ordered queue: the audit sample (a simple
 * random sample without replacement, so 1/p weights are exact), the
 * uncertainty slice (optionally diversified or quota-filled), interleaved so
 * a reviewer who stops early still leaves a usable audit sample.
 */
import { topLabel } from '../scoring/normalize.js';
import type { ScoredEntry } from '../scoring/types.js';
import type { QueueItem } from './prodigy/tasks.js';

export interface SelectOptions {
  topK: number;
  auditFraction: number;
  labels: string[];
  diversity?: { method: 'k-center'; candidates: number };
  quotas?: Record<string, number>;
  /** Plug points for the diversity and quota strategies (pure functions in scoring/). */
  kCenter?: (cands: ScoredEntry[], k: number) => ScoredEntry[];
  applyQuotas?: (ranked: ScoredEntry[], k: number, quotas: Record<string, number>, labelOf: (e: ScoredEntry) => string | null) => ScoredEntry[];
}

export interface Selection {
  items: QueueItem[];
  auditCount: number;
  /** Inclusion probability of each audit item (0 when there is no audit slice). */
  auditP: number;
  duplicates: number;
}

export function auditTarget(topK: number, auditFraction: number): number {
  return Math.round(topK * auditFraction);
}

function dedupe(entries: ScoredEntry[]): { unique: ScoredEntry[]; dropped: number } {
  const seen = new Set<string>();
  const unique: ScoredEntry[] = [];
  for (const e of entries) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    unique.push(e);
  }
  return { unique, dropped: entries.length - unique.length };
}

export function select(top: ScoredEntry[], audit: ScoredEntry[], population: number, opts: SelectOptions): Selection {
  const target = Math.min(auditTarget(opts.topK, opts.auditFraction), population);
  const a = dedupe(audit);
  const auditEntries = a.unique.slice(0, target);
  const auditP = population > 0 ? auditEntries.length / population : 0;
  const auditIds = new Set(auditEntries.map((e) => e.id));
  const t = dedupe(top.filter((e) => !auditIds.has(e.id)));
  const want = Math.max(0, opts.topK - auditEntries.length);
  let chosen: ScoredEntry[];
  if (opts.diversity && opts.kCenter) {
    chosen = opts.kCenter(t.unique.slice(0, Math.max(want, opts.diversity.candidates)), want);
  } else if (opts.quotas && opts.applyQuotas) {
    chosen = opts.applyQuotas(t.unique, want, opts.quotas, (e) => topLabel(e.record.probs, opts.labels).label);
  } else {
    chosen = t.unique.slice(0, want);
  }
  const total = chosen.length + auditEntries.length;
  const slots: Array<{ entry: ScoredEntry; audit: boolean } | undefined> = new Array(total);
  // Audit item j sits mid-way in the j-th of m equal segments (distinct slots since total ≥ m);
  // uncertainty items fill the rest in rank order.
  auditEntries.forEach((entry, j) => {
    slots[Math.floor(((j + 0.5) * total) / auditEntries.length)] = { entry, audit: true };
  });
  let c = 0;
  for (let i = 0; i < total; i++) if (slots[i] === undefined) slots[i] = { entry: chosen[c++], audit: false };
  const items: QueueItem[] = slots.map((s, i) =>
    s!.audit ? { entry: s!.entry, rank: i + 1, audit: true, p: auditP } : { entry: s!.entry, rank: i + 1, audit: false },
  );
  return { items, auditCount: auditEntries.length, auditP, duplicates: a.dropped + t.dropped };
}
