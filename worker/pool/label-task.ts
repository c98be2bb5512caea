/**
 * The pool task of label-issue rounds: one chunk through one pass
 * (scoring/label-issues/chunk.ts, pure). Errors cross the thread boundary as
 * tagged values, never as thrown class instances.
 */
import { type LabelIssuesChunkInput, type LabelIssuesChunkOutput, labelIssuesChunk } from '../../scoring/label-issues/chunk.js';

export type LabelTaskOutput = ({ ok: true } & LabelIssuesChunkOutput) | { ok: false; code: string; message: string };

export function labelIssuesTask(input: LabelIssuesChunkInput): LabelTaskOutput {
  try {
    return { ok: true, ...labelIssuesChunk(input) };
  } catch (err) {
    return { ok: false, code: 'SCORING_FAILED', message: `${input.object} line ${input.firstLine}…: ${(err as Error)?.message ?? String(err)}` };
  }
}
