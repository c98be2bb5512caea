/**
 * Signed media URLs for reviewers. Prodigy's browser cannot load `gs://`
 * media, so queues of image and audio tasks carry V4 signed GET URLs.
 *
 * Determinism: a signed URL embeds its signing instant (X-Goog-Date) and is
 * an RSA PKCS#1 v1.5 signature, which is deterministic for a given key. The
 * round pins that instant once, in plan.json (`mediaSignedAt`, the wall clock
 * when the round was first planned), so a rerun after a crash signs the same
 * string and writes the same bytes. When the bytes still differ (IAM signBlob
 * rotated its Google-managed key, another service account, or the pinned URLs
 * have expired so the rerun signs anew), the queue already written is kept if
 * it is the same queue once URLs are mapped back to `gs://` URIs
 * ({@link writeQueueOnce}): a rerun never fails for signing reasons and never
 * replaces a file a reviewer may already have loaded. Fresh URLs after the
 * TTL come from `reviewloop resign`, under a new object name.
 */
import type { TaskType } from '../../scoring/types.js';
import { isReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';
import { MediaSigner, type MediaSignerOptions } from './signing.js';
import type { ObjectStore } from '../store/store.js';
import { writeOnce } from '../store/write-once.js';

/** Tasks whose queue items carry media a browser has to fetch. */
export const MEDIA_TASKS: ReadonlySet<TaskType> = new Set<TaskType>(['image', 'image-boxes', 'image-segmentation', 'audio']);

/** Task fields that hold a media URI. */
const MEDIA_FIELDS = ['image', 'audio'] as const;

/** Parallel signing calls: local-key signing is CPU only, IAM signBlob is one HTTP call per URL. */
const SIGN_CONCURRENCY = 16;

/** Below this share of the TTL left, a pinned signing instant is given up for "now". */
const MIN_REMAINING_SHARE = 0.5;

/** The pinned signing instant in plan.json: whole seconds, as X-Goog-Date has no finer precision. */
export function signingInstant(now: number): string {
  return new Date(Math.floor(now / 1000) * 1000).toISOString();
}

/**
 * `gs://bucket/object` for a V4/V2 signed URL: virtual-host style on
 * `*.storage.googleapis.com`, path style on storage.googleapis.com or the
 * configured endpoint's host (a private endpoint, an emulator); any other
 * string is returned unchanged. Lets the merge store the stable URI, never an
 * expiring bearer URL.
 */
export function mediaUriOf(value: string): string {
  if (!value.startsWith('https://') && !value.startsWith('http://')) return value;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return value;
  }
  const google = u.hostname === 'storage.googleapis.com' || u.hostname.endsWith('.storage.googleapis.com');
  // Elsewhere only a V4 GCS signature counts: other services (CDNs) also call their parameter `Signature`.
  const signed = google
    ? u.searchParams.has('X-Goog-Signature') || u.searchParams.has('Signature')
    : u.searchParams.has('X-Goog-Signature') && u.searchParams.get('X-Goog-Algorithm') === 'GOOG4-RSA-SHA256';
  if (!signed) return value;
  const segs = u.pathname.split('/').slice(1);
  let bucket: string | undefined;
  if (u.hostname.endsWith('.storage.googleapis.com')) bucket = u.hostname.slice(0, -'.storage.googleapis.com'.length);
  else bucket = segs.shift();
  if (!bucket || segs.length === 0) return value;
  try {
    return `gs://${decodeURIComponent(bucket)}/${segs.map(decodeURIComponent).join('/')}`;
  } catch {
    return value;
  }
}

/** The `gs://` media URIs of queue tasks or records, each once, in first-seen order. */
export function gcsMediaUris(items: Iterable<{ image?: unknown; audio?: unknown }>): string[] {
  const out = new Set<string>();
  for (const it of items) {
    for (const f of MEDIA_FIELDS) {
      const v = it[f];
      if (typeof v === 'string' && v.startsWith('gs://')) out.add(v);
    }
  }
  return [...out];
}

/** Options for {@link signMediaUrls}. */
export interface SignMediaOptions {
  /** URL lifetime, in seconds (1…604800). */
  ttlSeconds: number;
  /**
   * Pinned signing instant (ISO). Used when at least half the TTL is still
   * ahead of `signer.now`; otherwise the URLs are signed from now. Default: now.
   */
  signedAt?: string;
  /** Credentials or client for {@link MediaSigner}; its `now` is the wall clock. Default: ADC. */
  signer?: MediaSignerOptions;
  logger?: Logger;
}

/**
 * Signs every URI once and returns the synchronous lookup `buildTask`
 * applies; URIs it was not given come back unchanged. Logs counts and the
 * expiry, never a URL.
 */
export async function signMediaUrls(uris: string[], options: SignMediaOptions): Promise<(uri: string) => string> {
  if (uris.length === 0) return (u) => u;
  const clock = options.signer?.now ?? Date.now;
  const now = clock();
  const pinned = options.signedAt === undefined ? Number.NaN : Date.parse(options.signedAt);
  const fresh = pinned + options.ttlSeconds * 1000 - now >= MIN_REMAINING_SHARE * options.ttlSeconds * 1000;
  // A pin in the future (clock skew between replicas) would give URLs GCS refuses as not yet valid.
  const at = Number.isFinite(pinned) && fresh && pinned <= now ? pinned : Date.parse(signingInstant(now));
  if (Number.isFinite(pinned) && at !== pinned) {
    options.logger?.warn(
      `the round's pinned signing time ${options.signedAt} leaves too little of the ${options.ttlSeconds} s TTL; signing from now (an earlier attempt's queue files are kept if they hold the same tasks)`,
    );
  }
  const signer = new MediaSigner({ ...options.signer, now: () => at });
  const urls = new Map<string, string>();
  let next = 0;
  const work = async () => {
    while (next < uris.length) {
      const uri = uris[next++];
      urls.set(uri, await signer.signRead(uri, options.ttlSeconds));
    }
  };
  await Promise.all(Array.from({ length: Math.min(SIGN_CONCURRENCY, uris.length) }, work));
  options.logger?.info(`signed ${urls.size} media URL(s), valid until ${new Date(at + options.ttlSeconds * 1000).toISOString()}`);
  return (u) => urls.get(u) ?? u;
}

/** Applies `map` to the media fields of one queue line, leaving every other byte of the task as it was. */
export function mapMediaFields(task: Record<string, unknown>, map: (value: string) => string): Record<string, unknown> {
  const out = { ...task };
  for (const f of MEDIA_FIELDS) if (typeof out[f] === 'string') out[f] = map(out[f]);
  return out;
}

/** A queue file with every signed media URL replaced by its `gs://` URI: what two signings of one queue share. */
export function canonicalQueue(text: string): string {
  return text
    .split('\n')
    .map((line) => (line === '' ? line : JSON.stringify(mapMediaFields(JSON.parse(line) as Record<string, unknown>, mediaUriOf))))
    .join('\n');
}

/**
 * {@link writeOnce} for queue files: an existing file that differs only in
 * its signed URLs is the same queue signed at another attempt, and is kept.
 */
export async function writeQueueOnce(store: ObjectStore, name: string, text: string, logger?: Logger): Promise<{ created: boolean }> {
  try {
    return await writeOnce(store, name, text, 'application/x-ndjson');
  } catch (err) {
    if (!isReviewloopError(err, 'CONFLICT')) throw err;
    let same = false;
    try {
      same = canonicalQueue((await store.read(name)).toString('utf8')) === canonicalQueue(text);
    } catch {
      // Not our JSONL at all: the CONFLICT stands.
    }
    if (!same) throw err;
    logger?.info(`${store.uri(name)} was written by an earlier attempt with other signed URLs; kept`);
    return { created: false };
  }
}
