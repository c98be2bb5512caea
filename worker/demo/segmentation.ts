/**
 * The demo's segmentation project: seeded synthetic part photos (PNG), a
 * "model" whose Vertex AI-style masks are the gold masks shifted, resized or
 * missing a region, with confidence that drops where it erred, and the gold
 * polygons the simulated reviewers draw. Small images keep the demo fast;
 * the real code path (decode, score, trace, queue, merge, masks, IoU) is the
 * same as for 4096² photos.
 */
import { encode } from 'fast-png';
import { traceMask } from '../../scoring/segmentation/trace.js';
import type { ObjectStore } from '../store/store.js';
import { writeOnce } from '../store/write-once.js';
import { rng } from './data.js';

export const DEFECT_LABELS = ['scratch', 'dent'] as const;
export const DEFECT_COLORS = { scratch: '#ff0000', dent: '#00ff00' };
const W = 96;
const H = 72;
const MASK_RGB: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
];

interface Blob {
  cls: number;
  x: number;
  y: number;
  r: number;
}

/** Scratches are thin bands along a slope, dents discs (some with a hole: a ring-shaped dent rim). */
function paint(blobs: Blob[], hole: boolean): Uint8Array {
  const m = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (const b of blobs) {
        const d = Math.hypot(x + 0.5 - b.x, y + 0.5 - b.y);
        const inBand = Math.abs(y + 0.5 - b.y - 0.5 * (x + 0.5 - b.x)) < 1.6 && Math.abs(x + 0.5 - b.x) < b.r * 2;
        if (b.cls === 1 ? inBand : d < b.r && !(hole && d < b.r * 0.35)) m[y * W + x] = b.cls;
      }
    }
  }
  return m;
}

function png(data: Uint8Array, channels: number): Buffer {
  return Buffer.from(encode({ width: W, height: H, channels, depth: 8, data }));
}

export interface SegmentationBatch {
  /** Vertex AI batch prediction lines. */
  lines: string[];
  /** item id → the gold polygons a reviewer draws. */
  gold: Map<string, Array<{ label: string; points: number[][] }>>;
}

/** Writes `n` photos under `images/` and returns the model's lines and the gold polygons. */
export async function segmentationBatch(store: ObjectStore, opts: { seed: number; n: number; round: number }): Promise<SegmentationBatch> {
  const r = rng(opts.seed);
  const lines: string[] = [];
  const gold = new Map<string, Array<{ label: string; points: number[][] }>>();
  for (let i = 0; i < opts.n; i++) {
    const blobs: Blob[] = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({
      cls: 1 + Math.floor(r() * 2),
      x: 12 + r() * 72,
      y: 10 + r() * 52,
      r: 5 + r() * 9,
    }));
    const hole = r() < 0.3;
    const truth = paint(blobs, hole);
    // The model's error grows with `err`; its confidence falls with it, so uncertainty ranks the worst masks first.
    const err = r() * (opts.round === 0 ? 1 : 0.6);
    const predicted = paint(
      blobs.filter(() => r() > err * 0.3).map((b) => ({ ...b, x: b.x + (r() - 0.5) * 6 * err, r: b.r * (1 + (r() - 0.5) * err) })),
      hole && r() > err,
    );
    const photo = new Uint8Array(W * H * 3);
    for (let p = 0; p < truth.length; p++) photo.fill(truth[p] === 0 ? 140 + ((p * 7) % 11) : truth[p] === 1 ? 215 : 70, p * 3, p * 3 + 3);
    // Ids independent of where the demo runs (the image URI holds the folder), so reruns elsewhere give the same mask files.
    const id = `part-r${opts.round + 1}-${String(i).padStart(3, '0')}`;
    const uri = store.uri(`images/r${opts.round + 1}-${String(i).padStart(3, '0')}.png`);
    await writeOnce(store, `images/r${opts.round + 1}-${String(i).padStart(3, '0')}.png`, png(photo, 3), 'image/png');
    const rgb = new Uint8Array(W * H * 3);
    const conf = new Uint8Array(W * H);
    for (let p = 0; p < predicted.length; p++) {
      rgb.set(MASK_RGB[predicted[p]], p * 3);
      conf[p] = predicted[p] === 0 ? 250 : Math.round(255 * (0.95 - 0.6 * err) * (predicted[p] === truth[p] ? 1 : 0.7));
    }
    lines.push(
      JSON.stringify({
        instance: { id, content: uri, mimeType: 'image/png' },
        prediction: { categoryMask: png(rgb, 3).toString('base64'), confidenceMask: png(conf, 1).toString('base64') },
        deployedModelId: `seg-v${opts.round + 1}`,
      }),
    );
    const traced = traceMask({ width: W, height: H, data: truth }, DEFECT_LABELS);
    gold.set(id, traced.ok ? traced.value.spans.map((s) => ({ label: s.label, points: s.points })) : []);
  }
  return { lines, gold };
}
