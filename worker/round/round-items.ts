/**
 * A round's `items.jsonl`: each queued item's model prediction, which the
 * merge joins back into snapshot rows and the export validator uses to know
 * an item whose content is not in the export line.
 */
import { isReviewloopError } from '../../domain/errors.js';
import { validateRoundId } from '../../domain/round-id.js';
import type { ObjectStore } from '../store/store.js';

export interface RoundItem {
  id: string;
  rank: number;
  audit: boolean;
  p: number | null;
  score: number;
  model: string | null;
  source: string;
  prediction: Record<string, unknown>;
}

/**
 * The items of a round by id, or null when the name is no round id or the
 * round has no items file. Round names come from export lines, so a bad one
 * means "not known", never an error; a line that is not an item is skipped.
 */
export async function loadRoundItems(store: ObjectStore, round: string): Promise<Map<string, RoundItem> | null> {
  try {
    validateRoundId(round);
  } catch {
    return null;
  }
  let text: string;
  try {
    text = (await store.read(`rounds/${round}/items.jsonl`)).toString('utf8');
  } catch (err) {
    if (isReviewloopError(err, 'NOT_FOUND') || isReviewloopError(err, 'PATH_INVALID')) return null;
    throw err;
  }
  const map = new Map<string, RoundItem>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const it = JSON.parse(line) as RoundItem;
      if (typeof it?.id === 'string') map.set(it.id, it);
    } catch {
      // items.jsonl is ours and written whole; a damaged line knows no item.
    }
  }
  return map;
}
