/**
 * Vertex AI detection boxes are normalised to 0..1 and Google's batch output
 * carries no image size. Normalisation keeps such boxes as fractions (flagged
 * in `meta`), and the round converts them here for the queued items only:
 * scoring never needs pixels (box strategies use box scores), so only K
 * lookups happen, not N. The size comes from the image object's metadata
 * (`width`/`height`, when an upload pipeline sets them) or else from the
 * image's header, read with one ranged read (scoring/image-size.ts).
 *
 * An image that will never be readable (404, not an image) rejects its
 * record; one that cannot be read now (network, 5xx, permission) defers it:
 * the round leaves the record's object unconsumed so the next round reads it
 * again (see finishRound), and records are never dropped silently.
 *
 * The outcome of every lookup is pinned in `rounds/R/image-sizes.json`
 * (create-only, first writer wins) before the queue is written: a rerun after
 * a crash uses the pinned sizes and deferrals, so the network's mood on the
 * second try cannot change the round's bytes.
 */
import { NORMALIZED_BOXES_FLAG } from '../../scoring/normalize.js';
import { MASK_SIZE_FLAG } from '../../scoring/segmentation/line.js';
import { IMAGE_HEADER_BYTES, imageSize } from '../../scoring/image-size.js';
import type { Reject } from '../../scoring/types.js';
import { isReviewloopError } from '../../domain/errors.js';
import type { MediaHeadReader } from './media-read.js';
import type { QueueItem } from '../../domain/prodigy/tasks.js';
import type { ObjectStore } from '../store/store.js';
import { firstWriteWins, readJson } from '../store/write-once.js';

export interface ImageSize {
  width: number;
  height: number;
}

/** Why a size is missing; `retry`: it may be readable next round. */
export interface ImageSizeFailure {
  reason: string;
  retry: boolean;
}

/** Size of the image at `uri`; null when this hook does not know it (the next hook may). */
export type ImageSizeHook = (uri: string) => Promise<ImageSize | ImageSizeFailure | null>;

/** JPEGs with large EXIF blocks push the frame header past the first read; never read more than this. */
const MAX_HEADER_BYTES = 1024 * 1024;

/**
 * Reads `width`/`height` from the custom metadata of images that live in
 * `store` (URIs under `store.uri('')`); null for anything else.
 */
export function storeImageSize(store: ObjectStore): ImageSizeHook {
  const probe = store.uri('x');
  const base = probe.slice(0, -1);
  return async (uri) => {
    if (!uri.startsWith(base)) return null;
    let name = uri.slice(base.length);
    if (base.startsWith('file:')) name = decodeURIComponent(name);
    let info: Awaited<ReturnType<typeof store.stat>>;
    try {
      info = await store.stat(name);
    } catch {
      // An image name the store refuses (escapes, odd characters) is left to the header reader, which says why.
      return null;
    }
    const w = Number(info?.metadata?.width);
    const h = Number(info?.metadata?.height);
    return w > 0 && h > 0 ? { width: w, height: h } : null;
  };
}

/** Width and height from the image's header: one ranged read, a second only when a JPEG's header runs long. */
export function headerImageSize(read: MediaHeadReader): ImageSizeHook {
  return async (uri) => {
    let want = IMAGE_HEADER_BYTES;
    for (;;) {
      let bytes: Buffer;
      try {
        bytes = await read(uri, want);
      } catch (err) {
        const permanent = isReviewloopError(err) && (err.code === 'NOT_FOUND' || err.code === 'PATH_INVALID' || err.code === 'INPUT_INVALID');
        return { reason: `cannot read the image ${uri}: ${(err as Error).message}`, retry: !permanent };
      }
      if (bytes.length === 0) return { reason: `image ${uri} is empty`, retry: false };
      const r = imageSize(bytes);
      if (r.ok) return { width: r.width, height: r.height };
      const more = r.needBytes !== undefined && bytes.length >= want && want < MAX_HEADER_BYTES;
      if (!more) return { reason: `cannot read the size of ${uri}: ${r.reason}`, retry: false };
      want = Math.min(MAX_HEADER_BYTES, Math.max(r.needBytes!, 2 * want));
    }
  };
}

/** The first hook that knows the size (or a failure) wins. */
export function firstImageSize(...hooks: ImageSizeHook[]): ImageSizeHook {
  return async (uri) => {
    let last: ImageSizeFailure | null = null;
    for (const hook of hooks) {
      const r = await hook(uri);
      if (r === null) continue;
      if ('width' in r) return r;
      last = r;
    }
    return last;
  };
}

/** `rounds/R/image-sizes.json`: what each image lookup of the round gave. */
export interface PinnedImageSizes {
  kind: 'reviewloop.image-sizes';
  sizes: Record<string, ImageSize | ImageSizeFailure | null>;
}

/**
 * Looks up the images of the selected items that need a size (each URI once,
 * in selection order), pins the results at `name` and returns a hook that
 * answers from the pin. No file is written when nothing needs a size.
 */
export async function pinImageSizes(store: ObjectStore, name: string, items: QueueItem[], hook: ImageSizeHook): Promise<ImageSizeHook> {
  const uris = [...new Set(items.filter((i) => needsImageSize(i.entry.record) && i.entry.record.image !== undefined).map((i) => i.entry.record.image!))];
  if (uris.length === 0) return hook;
  let pin = await readJson<PinnedImageSizes>(store, name);
  if (!pin) {
    const sizes: PinnedImageSizes['sizes'] = {};
    for (const uri of uris) sizes[uri] = await hook(uri);
    pin = await firstWriteWins<PinnedImageSizes>(store, name, { kind: 'reviewloop.image-sizes', sizes });
  }
  const pinned = pin.sizes;
  return async (uri) => (Object.hasOwn(pinned, uri) ? pinned[uri] : hook(uri));
}

const px = (v: number) => Math.round(v * 1e6) / 1e6;

/** Normalised detection boxes need the size to become pixels; segmentation masks need it to be checked against. */
function needsImageSize(rec: QueueItem['entry']['record']): boolean {
  return rec.meta?.[NORMALIZED_BOXES_FLAG] === true || rec.meta?.[MASK_SIZE_FLAG] === true;
}

/** A mask of another size than its image would put every polygon in the wrong place: the record is rejected. */
function maskSizeProblem(rec: QueueItem['entry']['record'], size: ImageSize): string | null {
  if (rec.meta?.[MASK_SIZE_FLAG] !== true || (rec.width === size.width && rec.height === size.height)) return null;
  return `mask is ${rec.width}x${rec.height} but the image is ${size.width}x${size.height}`;
}

/** What {@link resolveImageSizes} took out of the selection. */
export interface SizeOutcome {
  /** Records rejected for good (also passed to `reject`). */
  rejected: number;
  /** Records whose image could not be read now: their objects are read again next round. */
  deferred: Reject[];
}

/**
 * Converts normalised boxes of the selected items to pixels in place. Items
 * whose image size cannot be found are removed from the selection: rejected
 * when it never will be, deferred when it may be next round.
 */
export async function resolveImageSizes(
  selection: { items: QueueItem[]; auditCount: number },
  hook: ImageSizeHook,
  reject: (r: Reject) => void,
): Promise<SizeOutcome> {
  const kept: QueueItem[] = [];
  const outcome: SizeOutcome = { rejected: 0, deferred: [] };
  for (const item of selection.items) {
    const rec = item.entry.record;
    if (!needsImageSize(rec)) {
      kept.push(item);
      continue;
    }
    const size = rec.image === undefined ? null : await hook(rec.image);
    if (size === null || !('width' in size)) {
      const r: Reject = {
        object: item.entry.source.object,
        line: item.entry.source.line,
        id: rec.id,
        field: 'instance.content',
        reason:
          size?.reason ??
          (rec.meta?.[MASK_SIZE_FLAG] === true
            ? `the size of ${rec.image ?? '(no image)'} is unknown (no width/height metadata, no readable image header), so its mask cannot be checked against it`
            : `detection bboxes are normalised and the image size of ${rec.image ?? '(no image)'} is unknown (no instance.width/height, no readable image)`),
      };
      if (size?.retry) outcome.deferred.push(r);
      else {
        outcome.rejected++;
        reject(r);
      }
      continue;
    }
    const mismatch = maskSizeProblem(rec, size);
    if (mismatch !== null) {
      outcome.rejected++;
      reject({ object: item.entry.source.object, line: item.entry.source.line, id: rec.id, field: 'prediction.categoryMask', reason: mismatch });
      continue;
    }
    if (rec.meta?.[NORMALIZED_BOXES_FLAG] === true) {
      rec.width = size.width;
      rec.height = size.height;
      rec.boxes = (rec.boxes ?? []).map((b) => ({
        ...b,
        x: px(b.x * size.width),
        y: px(b.y * size.height),
        w: px(b.w * size.width),
        h: px(b.h * size.height),
      }));
    }
    const { [NORMALIZED_BOXES_FLAG]: _flag, [MASK_SIZE_FLAG]: _mask, ...meta } = rec.meta ?? {};
    if (_mask === true && Object.keys(meta).length === 0) delete rec.meta;
    else rec.meta = meta;
    kept.push(item);
  }
  // Ranks stay those of the selection; dropping an item leaves a gap rather than reshuffling what reviewers already saw.
  selection.auditCount = kept.filter((i) => i.audit).length;
  selection.items = kept;
  return outcome;
}
