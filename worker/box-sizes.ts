/**
 * Vertex AI detection boxes are normalised to 0..1. When a prediction line
 * does not carry the image's width/height, normalisation keeps the boxes as
 * fractions (flagged in `meta`), and the round converts them here for the
 * queued items only, with the size read from the image object's metadata
 * (`width`/`height`, as set by the upload pipeline). Scoring never needs
 * pixels (box strategies use box scores), so only K lookups happen, not N.
 */
import { NORMALIZED_BOXES_FLAG } from '../scoring/normalize.js';
import type { Reject } from '../scoring/types.js';
import type { QueueItem } from './prodigy-tasks.js';
import type { ObjectStore } from './store.js';

export interface ImageSize { width: number; height: number }

/** Size of the image at `uri`, or null when unknown. */
export type ImageSizeHook = (uri: string) => Promise<ImageSize | null>;

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
    let info;
    try {
      info = await store.stat(name);
    } catch {
      // An image name the store refuses (escapes, odd characters) is just not ours.
      return null;
    }
    const w = Number(info?.metadata?.width);
    const h = Number(info?.metadata?.height);
    return w > 0 && h > 0 ? { width: w, height: h } : null;
  };
}

const px = (v: number) => Math.round(v * 1e6) / 1e6;

/**
 * Converts normalised boxes of the selected items to pixels in place. Items
 * whose image size cannot be found are removed from the selection and
 * reported as rejects (they cannot be shown to a reviewer correctly).
 */
export async function resolveImageSizes(selection: { items: QueueItem[]; auditCount: number }, hook: ImageSizeHook, reject: (r: Reject) => void): Promise<void> {
  const kept: QueueItem[] = [];
  for (const item of selection.items) {
    const rec = item.entry.record;
    if (rec.meta?.[NORMALIZED_BOXES_FLAG] !== true) { kept.push(item); continue; }
    const size = rec.image === undefined ? null : await hook(rec.image);
    if (size === null) {
      reject({ object: item.entry.source.object, line: item.entry.source.line, id: rec.id, field: 'instance.width', reason: `detection bboxes are normalised and neither the line (instance.width/height) nor the image object's metadata (width/height) gives the image size of ${rec.image ?? '(no image)'}` });
      continue;
    }
    rec.width = size.width;
    rec.height = size.height;
    rec.boxes = (rec.boxes ?? []).map((b) => ({ ...b, x: px(b.x * size.width), y: px(b.y * size.height), w: px(b.w * size.width), h: px(b.h * size.height) }));
    const { [NORMALIZED_BOXES_FLAG]: _flag, ...meta } = rec.meta;
    rec.meta = meta;
    kept.push(item);
  }
  // Ranks stay those of the selection; dropping an item leaves a gap rather than reshuffling what reviewers already saw.
  selection.auditCount = kept.filter((i) => i.audit).length;
  selection.items = kept;
}
