/**
 * One parsed JSONL value of an `image-segmentation` project → its score, and,
 * only for records a heap keeps, its Prodigy polygons. Runs in a scoring
 * thread: one image's rasters live at a time, and are dropped when the next
 * line starts.
 *
 * Determinism: every check that can reject a line (decode, sizes, the
 * tracing budget) runs for every line, kept or not, so the rejects file never
 * depends on heap state, chunking or thread timing; only the tracing itself
 * is skipped for records no heap keeps.
 */
import { vertexItemId } from '../normalize.js';
import { uniform01 } from '../hash.js';
import type { Box, PredictionRecord, SegmentationChunkOptions, StrategyOptions } from '../types.js';
import { buildColorTable, type ColorTable } from './png/colors.js';
import { parseSegmentationRecord } from './record.js';
import { scoreSegmentation, type SegmentationStrategy } from './score.js';
import { boundaryEdges, DEFAULT_TRACE_OPTIONS, type TraceOptions, traceMask } from './trace.js';

export interface SegmentationLineContext {
  labels: string[];
  colors: ColorTable | null;
  trace: TraceOptions;
  strategy: StrategyOptions;
  lowConfidenceBelow: number;
}

export type SegmentationLine =
  | { ok: false; field: string; reason: string; id?: string }
  | { ok: true; id: string; model?: string; score: number; labelsPresent: string[]; record: () => PredictionRecord };

/**
 * Set in a kept record's `meta` until the round has compared the mask's size
 * with the image's (worker/media/box-sizes.ts); Vertex AI lines carry no image
 * size, and reading K image headers after selection is far cheaper than N.
 */
export const MASK_SIZE_FLAG = 'reviewloop_mask_size_unchecked';

/** Defaults of the `segmentation` config block (config/schema.ts), for projects that leave it out. */
export const SEGMENTATION_DEFAULTS: Readonly<SegmentationChunkOptions> = Object.freeze({ colors: null, maxPoints: 200, lowConfidenceBelow: 0.5 });

/** Built once per chunk; a bad colour table is a config error caught by the schema before any chunk runs. */
export function segmentationContext(labels: string[], options: SegmentationChunkOptions, strategy: StrategyOptions): SegmentationLineContext {
  let colors: ColorTable | null = null;
  if (options.colors) {
    const t = buildColorTable(options.colors, labels);
    if (!t.ok) throw new Error(`${t.field}: ${t.reason}`);
    colors = t.value;
  }
  return { labels, colors, trace: { ...DEFAULT_TRACE_OPTIONS, maxPoints: options.maxPoints }, strategy, lowConfidenceBelow: options.lowConfidenceBelow };
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Id and model without decoding any mask, so excluded items cost no PNG work. */
export function segmentationIdentity(value: unknown): { id: string; model?: string } | null {
  if (!isObj(value)) return null;
  if (isObj(value.instance) && 'prediction' in value) {
    const model = value.deployedModelId ?? (isObj(value.prediction) ? value.prediction.deployedModelId : undefined);
    return { id: vertexItemId(value.instance), ...(typeof model === 'string' ? { model } : {}) };
  }
  const id = typeof value.id === 'string' && value.id.length > 0 ? value.id : Number.isSafeInteger(value.id) ? String(value.id) : null;
  if (id === null) return null;
  return { id, ...(typeof value.model === 'string' || typeof value.model === 'number' ? { model: String(value.model) } : {}) };
}

export function segmentationLine(value: unknown, ctx: SegmentationLineContext): SegmentationLine {
  const ident = segmentationIdentity(value);
  const withId = (f: { field: string; reason: string }) => (ident ? { ok: false as const, ...f, id: ident.id } : { ok: false as const, ...f });
  if (ctx.colors === null && isObj(value) && 'prediction' in value) {
    return withId({ field: 'prediction.categoryMask', reason: 'Vertex AI category masks need segmentation.colors in the project config (label → "#rrggbb")' });
  }
  const parsed = parseSegmentationRecord(value, { labels: ctx.labels, colors: ctx.colors ?? new Map() });
  if (!parsed.ok) return withId(parsed);
  if (parsed.value.kind === 'mask-files') {
    return withId({
      field: 'mask',
      reason: 'mask-file records (class-index PNG URIs) are not read by the scoring threads yet; give instances (RLE or polygon) or a Vertex AI line',
    });
  }
  const p = parsed.value.prediction;
  const raster = { width: p.width, height: p.height, data: p.classes };
  const edges = boundaryEdges(raster);
  if (edges > ctx.trace.maxBoundaryEdges) {
    return withId({
      field: 'mask',
      reason: `mask has ${edges} boundary pixel edges, above the ${ctx.trace.maxBoundaryEdges} that can be traced into editable polygons (is it noise?)`,
    });
  }
  let score: number;
  if (ctx.strategy.name === 'random') {
    score = uniform01(ctx.strategy.seed, p.id);
  } else {
    const s = scoreSegmentation(p, ctx.strategy.name as SegmentationStrategy, { lowConfidenceBelow: ctx.lowConfidenceBelow });
    if (!s.ok) return withId(s);
    score = s.score;
  }
  const present = new Uint8Array(ctx.labels.length + 1);
  for (let i = 0; i < p.classes.length; i++) present[p.classes[i]] = 1;
  const labelsPresent = ctx.labels.filter((_, k) => present[k + 1] === 1);
  const model = ident?.model;
  const record = (): PredictionRecord => {
    const traced = traceMask(raster, ctx.labels, ctx.trace);
    // The budget was checked above with the same options, so tracing cannot refuse here.
    const spans = traced.ok ? traced.value.spans : [];
    const boxes: Box[] = spans.map((s) => polygonBox(s.label, s.points));
    const rec: PredictionRecord = { id: p.id, image: p.image, width: p.width, height: p.height, boxes, meta: { [MASK_SIZE_FLAG]: true } };
    if (model !== undefined) rec.model = model;
    return rec;
  };
  return { ok: true, id: p.id, ...(model !== undefined ? { model } : {}), score, labelsPresent, record };
}

/** A traced polygon as a Box: its bounding rectangle plus the points the queue shows. */
function polygonBox(label: string, points: [number, number][]): Box {
  let x0 = Number.POSITIVE_INFINITY;
  let y0 = Number.POSITIVE_INFINITY;
  let x1 = Number.NEGATIVE_INFINITY;
  let y1 = Number.NEGATIVE_INFINITY;
  for (const [x, y] of points) {
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0, label, points };
}
