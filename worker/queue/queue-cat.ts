/**
 * A round's queue as a reviewer loads it: `reviewloop queue cat … | prodigy
 * … -` from any root, with no gcloud. Lines leave byte for byte as the round
 * wrote them, except media URLs that expire within `minValidMs` (or `gs://`
 * URIs Prodigy cannot fetch): those are signed afresh. Only the `image` /
 * `audio` values change, so Prodigy's task hashes, and the order, stay.
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { RoundManifest } from '../../domain/records.js';
import { validateRoundId } from '../../domain/round-id.js';
import { mapMediaFields, mediaUriOf, signMediaUrls } from '../media/task-media.js';
import type { MediaSignerOptions } from '../media/signing.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';
import { roundDir } from '../round/history.js';
import { unknownRoundError } from '../round/known-rounds.js';
import type { Logger } from '../core/log.js';

/** A reviewer's session lasts hours: a URL with less than an hour left is signed again. */
export const MIN_VALID_MS = 3_600_000;

export interface QueueCatOptions {
  project: ProjectConfig;
  store: ObjectStore;
  roundId: string;
  /** The reviewer whose split queue (`queue-NAME.jsonl`) to read; absent: the whole queue. */
  annotator?: string;
  signer?: MediaSignerOptions;
  minValidMs?: number;
  logger?: Logger;
}

export interface QueueCat {
  /** The queue object read. */
  file: string;
  /** Task lines, without newlines. */
  lines: string[];
  /** Distinct media objects signed afresh. */
  resigned: number;
}

/**
 * When a V4 signed URL stops working (ms since the epoch), from its
 * X-Goog-Date and X-Goog-Expires; null when `value` is not one.
 */
export function signedUrlExpiry(value: string): number | null {
  if (!/^https?:\/\//.test(value)) return null;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return null;
  }
  const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(u.searchParams.get('X-Goog-Date') ?? '');
  const expiresParam = u.searchParams.get('X-Goog-Expires');
  const expires = Number(expiresParam);
  if (!date || expiresParam === null || !Number.isFinite(expires)) return null;
  const [, y, mo, d, h, mi, s] = date.map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s) + expires * 1000;
}

async function queueFile(store: ObjectStore, manifest: RoundManifest, roundId: string, annotator: string | undefined): Promise<string> {
  const dir = roundDir(roundId);
  if (annotator === undefined) return `${dir}/queue.jsonl`;
  const name = `${dir}/queue-${annotator}.jsonl`;
  if (manifest.files.queue.includes(name)) return name;
  const named = manifest.files.queue.map((q) => /\/queue-(.+)\.jsonl$/.exec(q)?.[1]).filter((a): a is string => a !== undefined);
  const hint = named.length > 0 ? `its reviewers: ${named.join(', ')}` : 'its queue is not split by reviewer (leave out --annotator)';
  throw Object.assign(new Error(`round ${roundId} has no queue for ${annotator} (${store.uri(name)}); ${hint}`), {
    code: 'USAGE',
    details: { annotator, annotators: named },
  });
}

/** Reads round `roundId`'s queue for review; a mistyped round or reviewer is a usage error naming the nearest ones. */
export async function catQueue(o: QueueCatOptions): Promise<QueueCat> {
  let roundId: string;
  try {
    roundId = validateRoundId(o.roundId);
  } catch {
    // A pasted path or a stray slash: still the operator's typo, answered with the nearest rounds.
    throw await unknownRoundError(o.store, o.roundId);
  }
  const manifest = await readJson<RoundManifest>(o.store, `${roundDir(roundId)}/manifest.json`);
  if (!manifest) {
    if (await o.store.stat(`${roundDir(roundId)}/plan.json`)) {
      // Planned but not committed: running now, or stopped before its manifest (a rerun completes it).
      throw Object.assign(
        new Error(
          `round ${roundId} is not complete yet (${o.store.uri(`${roundDir(roundId)}/plan.json`)} exists, its manifest does not): wait for it, or run it again to complete it`,
        ),
        {
          code: 'USAGE',
          details: { round: roundId, planned: true },
        },
      );
    }
    throw await unknownRoundError(o.store, roundId);
  }
  const file = await queueFile(o.store, manifest, roundId, o.annotator);
  const lines = (await o.store.read(file))
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
  const now = (o.signer?.now ?? Date.now)();
  const minValid = o.minValidMs ?? MIN_VALID_MS;
  const stale = new Set<string>();
  const tasks = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const t of tasks) {
    mapMediaFields(t, (v) => {
      const expiry = signedUrlExpiry(v);
      const uri = mediaUriOf(v);
      // Unknown expiry (a gs:// URI Prodigy cannot fetch, a V2 signed URL): signed afresh too.
      if (uri.startsWith('gs://') && (expiry === null || expiry - now < minValid)) stale.add(uri);
      return v;
    });
  }
  if (stale.size === 0) return { file, lines, resigned: 0 };
  const sign = await signMediaUrls([...stale], { ttlSeconds: o.project.queue.signedUrlTtlSeconds, signer: o.signer, logger: o.logger });
  const fresh = (v: string) => {
    const uri = mediaUriOf(v);
    return stale.has(uri) ? sign(uri) : v;
  };
  const out = tasks.map((t, i) => {
    const mapped = mapMediaFields(t, fresh);
    // Lines with nothing to sign leave as they were written, byte for byte.
    return Object.keys(t).some((k) => mapped[k] !== t[k]) ? JSON.stringify(mapped) : lines[i];
  });
  return { file, lines: out, resigned: stale.size };
}
