/**
 * The scoring pool of `reviewloop score`, started before the CLI's modules
 * load: bin/reviewloop.js calls earlyScorePool() first, so the threads boot
 * (~0.1 s each) while this thread loads commander and the command modules.
 * This module stays small for that reason: it imports pool.js (piscina) only
 * when it starts a pool.
 */
import { statSync } from 'node:fs';
import { ARROW_PARALLEL_MIN_BYTES } from '../sources/arrow-footer.js';
import type { ScoringPool } from './pool.js';

/**
 * For `reviewloop score` with JSONL files (or Arrow files big enough for the pool) among its
 * arguments: a scoring pool started now, before the command's modules load (~50 ms), so the
 * threads' own start-up (~0.1 s) overlaps this thread's. Anything else (directories, globs,
 * gs://, small columnar files) starts its pool once the inputs are resolved.
 */
export function earlyScorePool(argv: string[]): Promise<ScoringPool> | undefined {
  const args = argv.slice(2);
  if (args[0] !== 'score' || args.some((a) => /^(--engine|--help|-h|--shards?)\b/.test(a))) return undefined;
  // Large Arrow files are scored in the pool too, and its threads then load the Arrow reader while they wait.
  const arrow = args.some((a) => /\.(arrow|feather|ipc)$/i.test(a) && sizeOf(a) >= ARROW_PARALLEL_MIN_BYTES);
  if (!arrow && !args.some((a) => /\.(jsonl|ndjson)(\.gz)?$/i.test(a))) return undefined;
  const at = args.findIndex((a) => a === '--threads' || a.startsWith('--threads='));
  const value = at === -1 ? undefined : args[at].startsWith('--threads=') ? args[at].slice('--threads='.length) : args[at + 1];
  const threads = value === undefined ? undefined : Number(value);
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) return undefined;
  return import('./pool.js').then(({ ScoringPool: Pool }) => {
    const pool = new Pool({ threads });
    pool.start({ arrow });
    return pool;
  });
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
