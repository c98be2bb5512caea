/**
 * The piscina task module: one named export per task kind. Errors never cross
 * the thread boundary as thrown class instances, only as tagged values.
 */
import { scoreChunkSync } from './chunk.js';
import type { ScoreChunkInput, ScoreChunkOutput } from './types.js';

export function scoreChunk(input: ScoreChunkInput): ScoreChunkOutput {
  try {
    return { ok: true, ...scoreChunkSync(input) };
  } catch (err) {
    const e = err as Error;
    return { ok: false, code: 'SCORING_FAILED', message: `${input.object} lines ${input.firstLine}…: ${e?.message ?? String(err)}` };
  }
}
