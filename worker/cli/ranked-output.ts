/**
 * What `score` and `reduce` share: their numeric option checks and the
 * ranked JSONL they print or write.
 */
import { rename, writeFile } from 'node:fs/promises';
import { select } from '../../domain/select.js';
import type { ScoredEntry } from '../../scoring/types.js';
import { usageError, type CliIO } from './env.js';

export function intOpt(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw usageError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export function fractionOpt(name: string, v: string): number {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw usageError(`${name} must be a number in [0, 1], got ${JSON.stringify(v)}`);
  return n;
}

/** The ranked output: one JSON line per selected item; `p` only on audit items. */
export function rankedLines(top: ScoredEntry[], audit: ScoredEntry[], population: number, topK: number, auditFraction: number, labels: string[]): string {
  const sel = select(top, audit, population, { topK, auditFraction, labels });
  let out = '';
  for (const it of sel.items) {
    const line = it.audit
      ? { id: it.entry.id, score: it.entry.score, rank: it.rank, audit: true, p: it.p }
      : { id: it.entry.id, score: it.entry.score, rank: it.rank, audit: false };
    out += `${JSON.stringify(line)}\n`;
  }
  return out;
}

/** Writes next to the target and renames, so a reader never sees half a file. */
export async function writeResult(out: string | undefined, text: string, io: CliIO): Promise<void> {
  if (out === undefined || out === '-') {
    io.out(text);
    return;
  }
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, out);
}
