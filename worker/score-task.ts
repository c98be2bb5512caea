/**
 * The piscina task module: one named export per task kind. It is the only
 * place a scoring thread does I/O (reading its own byte range of a local
 * file); the scoring itself is scoring/chunk.ts, pure. Errors never cross the
 * thread boundary as thrown class instances, only as tagged values.
 */
import { scoreChunkSync } from '../scoring/chunk.js';
import type { ScoreChunkInput, ScoreChunkOutput } from '../scoring/types.js';
import { readRangeLines, type FileRange } from './line-range.js';

/** A chunk of lines the thread reads itself; line numbers in the result count from 1 within the range. */
export type RangeChunkInput = Omit<ScoreChunkInput, 'chunk' | 'firstLine'> & { range: FileRange };

export type ScoreTaskInput = ScoreChunkInput | RangeChunkInput;

/** The chunk's result, plus for a range how many lines it owned (so the caller can number the next one). */
export type ScoreTaskOutput = ScoreChunkOutput & { lines?: number };

export function scoreChunk(input: ScoreTaskInput): ScoreTaskOutput {
  const where = 'range' in input ? `bytes ${input.range.start}…${input.range.end}` : `lines ${input.firstLine}…`;
  try {
    if (!('range' in input)) return { ok: true, ...scoreChunkSync(input) };
    const { range, ...rest } = input;
    const owned = readRangeLines(range, input.maxLineBytes);
    const out = scoreChunkSync({ ...rest, chunk: owned.bytes, firstLine: 1 });
    if (owned.oversizedLine > 0) {
      // The tail line was never read whole; reported here, last, as the stream chunker would.
      out.stats.read++;
      out.stats.rejected++;
      out.rejects.push({ object: input.object, line: owned.oversizedLine, reason: `line longer than ${input.maxLineBytes} bytes` });
    }
    return { ok: true, ...out, lines: owned.lines };
  } catch (err) {
    const e = err as Error;
    return { ok: false, code: 'SCORING_FAILED', message: `${input.object} ${where}: ${e?.message ?? String(err)}` };
  }
}
