/**
 * Fresh signed media URLs for a round whose URLs expired (or are about to).
 * The round's queue files are never replaced (a reviewer may have loaded them,
 * and the round's bytes stay reproducible): each gets a copy
 * `rounds/R/<queue>.resigned-<n>.jsonl`, written create-only, in which only
 * the `image`/`audio` values differ. Order, hashes and every other byte of
 * each line are kept. Prints the new objects' URIs, never a URL.
 */
import type { ProjectConfig } from '../../config/schema.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { gcsMediaUris, mapMediaFields, mediaUriOf, signMediaUrls } from '../media/task-media.js';
import type { RoundManifest } from '../../domain/records.js';
import { roundDir } from '../round/history.js';
import type { MediaSignerOptions } from '../media/signing.js';
import type { ObjectStore } from '../store/store.js';
import { readJson } from '../store/write-once.js';

/** Options for {@link resignRound}. */
export interface ResignOptions {
  project: ProjectConfig;
  store: ObjectStore;
  roundId: string;
  /** URL lifetime, in seconds. Default: the project's `queue.signedUrlTtlSeconds`. */
  ttlSeconds?: number;
  /** Key or client for signing; `now` is the wall clock. Default: Application Default Credentials. */
  signer?: MediaSignerOptions;
  logger?: Logger;
}

export interface ResignResult {
  /** New object names, one per queue file of the round; empty when the queue holds no gs:// media. */
  written: string[];
  /** Distinct media objects signed. */
  signed: number;
}

const RESIGNED = /\.resigned-(\d+)\.jsonl$/;
/** Concurrent resigns of one round each take the next free number; this bounds the retries. */
const MAX_ATTEMPTS = 20;

/** `rounds/R/queue-ann.jsonl` → `rounds/R/queue-ann.resigned-3.jsonl`. */
export function resignedName(queueName: string, n: number): string {
  return `${queueName.replace(/\.jsonl$/, '')}.resigned-${n}.jsonl`;
}

/** Writes re-signed copies of every queue file of round `roundId`. */
export async function resignRound(opts: ResignOptions): Promise<ResignResult> {
  const { store, roundId } = opts;
  const log = (opts.logger ?? silentLogger).child({ project: opts.project.name, round: roundId, job: 'resign' });
  const dir = roundDir(roundId);
  const manifest = await readJson<RoundManifest>(store, `${dir}/manifest.json`);
  if (!manifest)
    throw new ReviewloopError('NOT_FOUND', `round ${roundId} does not exist (no ${store.uri(`${dir}/manifest.json`)})`, { details: { round: roundId } });
  // Always from the round's own queue files: a resign of a resign would only add drift.
  const queues = await Promise.all(
    manifest.files.queue.map(async (name) => {
      const tasks = (await store.read(name))
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => mapMediaFields(JSON.parse(l) as Record<string, unknown>, mediaUriOf));
      return { name, tasks };
    }),
  );
  const uris = gcsMediaUris(queues.flatMap((q) => q.tasks));
  if (uris.length === 0) {
    log.info(`round ${roundId}: no gs:// media in its queue; nothing to sign`);
    return { written: [], signed: 0 };
  }
  const sign = await signMediaUrls(uris, { ttlSeconds: opts.ttlSeconds ?? opts.project.queue.signedUrlTtlSeconds, signer: opts.signer, logger: log });
  const bodies = queues.map((q) => ({ name: q.name, text: q.tasks.map((t) => `${JSON.stringify(mapMediaFields(t, sign))}\n`).join('') }));

  let n = 1;
  for await (const o of store.list(`${dir}/`)) {
    const m = RESIGNED.exec(o.name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++, n++) {
    try {
      // The first file claims the number; a concurrent resign that took it makes us move on.
      const written: string[] = [];
      for (const b of bodies) {
        await store.write(resignedName(b.name, n), b.text, { ifGenerationMatch: '0', contentType: 'application/x-ndjson' });
        written.push(resignedName(b.name, n));
      }
      log.info(`round ${roundId}: ${written.length} re-signed queue file(s) as .resigned-${n}`);
      return { written, signed: uris.length };
    } catch (err) {
      if (!isReviewloopError(err, 'ALREADY_EXISTS')) throw err;
    }
  }
  throw new ReviewloopError('CONFLICT', `round ${roundId}: could not find a free .resigned-<n> name after ${MAX_ATTEMPTS} tries`, { retryable: true });
}
