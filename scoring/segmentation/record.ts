/**
 * One `image-segmentation` prediction line → the rasters the kernels and the
 * tracer read, or the field at fault. Shapes (docs/inputs.md):
 *
 * - Vertex AI batch prediction: {"instance": {"content", "mimeType"},
 *   "prediction": {"categoryMask": base64 PNG, "confidenceMask": base64 PNG}}.
 * - Native, instances: {"id", "image", "width"?, "height"?, "instances":
 *   [{"label", "score", "rle": {"size": [h, w], "counts"}} |
 *    {"label", "score", "polygon": [[x, y], …]}]}.
 * - Native, mask files: {"id", "image", "mask": URI of a class-index PNG,
 *   "confidence_mask"?: URI of an 8-bit PNG}. Reading URIs is I/O, so this
 *   file returns them for the worker to fetch and pass to `fromMaskFiles`.
 *
 * Instances are painted in ascending score order (ties in input order), so
 * where two overlap the more confident one owns the pixel; each painted
 * pixel's confidence byte is round(255 · score) of its owner.
 */
import { vertexItemId } from '../normalize.js';
import type { ColorTable } from './png/colors.js';
import {
  DEFAULT_MAX_PIXELS,
  categoryMaskFromBase64,
  classIndexMaskFromPng,
  confidenceMaskFromBase64,
  confidenceMaskFromPng,
  type ExpectedSize,
} from './png/decode.js';
import { fillPolygon } from './rasterize.js';
import { fail, ok, type SegResult } from './result.js';
import { decodeRle } from './rle.js';

export interface SegmentationPrediction {
  id: string;
  image: string;
  width: number;
  height: number;
  /** Class index per pixel: 0 background, 1 + label position. */
  classes: Uint8Array;
  /** Confidence byte per pixel (b / 255), or null when the producer gave none. */
  confidence: Uint8Array | null;
  /** One score per instance, for `mask-min-instance`; empty for semantic (Vertex) masks. */
  instanceScores: number[];
}

export interface MaskFileRefs {
  id: string;
  image: string;
  mask: string;
  confidenceMask: string | null;
  /** Declared size, when the record gives one; masks must match it. */
  size?: ExpectedSize;
}

export type ParsedSegmentation = { kind: 'decoded'; prediction: SegmentationPrediction } | { kind: 'mask-files'; refs: MaskFileRefs };

export interface SegmentationParseOptions {
  labels: readonly string[];
  colors: ColorTable;
  maxPixels?: number;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readId(v: unknown): string | null {
  if (typeof v === 'string' && v.length > 0 && v.length <= 1024) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return null;
}

function readSize(v: Record<string, unknown>, field = ''): SegResult<ExpectedSize | undefined> {
  if (v.width === undefined && v.height === undefined) return ok(undefined);
  for (const k of ['width', 'height'] as const) {
    if (!Number.isSafeInteger(v[k]) || (v[k] as number) <= 0) return fail(`${field}${k}`, `${k} must be a positive integer (pixels)`);
  }
  return ok({ width: v.width as number, height: v.height as number });
}

export function parseSegmentationRecord(value: unknown, opts: SegmentationParseOptions): SegResult<ParsedSegmentation> {
  if (!isObj(value)) return fail('(record)', 'expected a JSON object');
  if ('instance' in value && 'prediction' in value) return parseVertex(value, opts);
  const id = readId(value.id);
  if (id === null) return fail('id', 'missing or invalid id (a non-empty string or an integer)');
  if (typeof value.image !== 'string' || value.image.length === 0) return fail('image', 'image must be the image URI');
  const size = readSize(value);
  if (!size.ok) return size;
  if (value.mask !== undefined) {
    if (typeof value.mask !== 'string' || value.mask.length === 0) return fail('mask', 'mask must be the URI of a class-index PNG');
    const conf = value.confidence_mask;
    if (conf !== undefined && conf !== null && (typeof conf !== 'string' || conf.length === 0))
      return fail('confidence_mask', 'confidence_mask must be the URI of an 8-bit PNG');
    const refs: MaskFileRefs = { id, image: value.image, mask: value.mask, confidenceMask: typeof conf === 'string' ? conf : null };
    if (size.value) refs.size = size.value;
    return ok({ kind: 'mask-files', refs });
  }
  if (!Array.isArray(value.instances))
    return fail('instances', 'a native segmentation record needs "instances" (RLE or polygon per instance) or "mask" (a class-index PNG URI)');
  const r = paintInstances(value.instances, size.value, opts);
  if (!r.ok) return r;
  return ok({ kind: 'decoded', prediction: { id, image: value.image, ...r.value } });
}

function parseVertex(v: Record<string, unknown>, opts: SegmentationParseOptions): SegResult<ParsedSegmentation> {
  const instance = v.instance;
  const pred = v.prediction;
  if (!isObj(instance)) return fail('instance', 'instance must be an object');
  if (!isObj(pred)) return fail('prediction', 'prediction must be an object');
  if (typeof instance.content !== 'string' || instance.content.length === 0) return fail('instance.content', 'content must be the image URI');
  const size = readSize(instance, 'instance.');
  if (!size.ok) return size;
  const cat = categoryMaskFromBase64(pred.categoryMask, 'prediction.categoryMask', opts.colors, size.value, opts.maxPixels);
  if (!cat.ok) return cat;
  const { width, height } = cat.value;
  let confidence: Uint8Array | null = null;
  if (pred.confidenceMask !== undefined && pred.confidenceMask !== null) {
    const conf = confidenceMaskFromBase64(pred.confidenceMask, 'prediction.confidenceMask', { width, height }, opts.maxPixels);
    if (!conf.ok) return { ...conf, reason: conf.reason.replace('but the image is', 'but the categoryMask is') };
    confidence = conf.value.data;
  }
  const id = vertexItemId(instance);
  return ok({ kind: 'decoded', prediction: { id, image: instance.content, width, height, classes: cat.value.data, confidence, instanceScores: [] } });
}

/** The fetched bytes of a `mask-files` record → rasters (a mask and its confidence must agree in size). */
export function fromMaskFiles(
  refs: MaskFileRefs,
  maskPng: Uint8Array,
  confidencePng: Uint8Array | null,
  labels: readonly string[],
  maxPixels?: number,
): SegResult<SegmentationPrediction> {
  const mask = classIndexMaskFromPng(maskPng, 'mask', labels.length, refs.size, maxPixels);
  if (!mask.ok) return mask;
  const { width, height } = mask.value;
  let confidence: Uint8Array | null = null;
  if (confidencePng) {
    const conf = confidenceMaskFromPng(confidencePng, 'confidence_mask', { width, height }, maxPixels);
    if (!conf.ok) return conf;
    confidence = conf.value.data;
  }
  return ok({ id: refs.id, image: refs.image, width, height, classes: mask.value.data, confidence, instanceScores: [] });
}

interface Instance {
  classIndex: number;
  score: number;
  field: string;
  rle?: unknown;
  polygon?: [number, number][];
}

function readInstance(raw: unknown, i: number, opts: SegmentationParseOptions): SegResult<Instance> {
  const field = `instances[${i}]`;
  if (!isObj(raw)) return fail(field, 'expected an object');
  const pos = typeof raw.label === 'string' ? opts.labels.indexOf(raw.label) : -1;
  if (pos < 0) return fail(`${field}.label`, `${JSON.stringify(raw.label)} is not one of the project labels`);
  const score = raw.score;
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return fail(`${field}.score`, 'score must be a number in 0..1');
  if (raw.rle !== undefined) return ok({ classIndex: pos + 1, score, field, rle: raw.rle });
  if (!Array.isArray(raw.polygon) || raw.polygon.length < 3)
    return fail(field, 'each instance needs "rle" ({"size": [h, w], "counts"}) or "polygon" ([[x, y], …], at least 3 points)');
  const polygon: [number, number][] = [];
  for (let k = 0; k < raw.polygon.length; k++) {
    const p = raw.polygon[k];
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1]))
      return fail(`${field}.polygon[${k}]`, 'expected [x, y] in pixels');
    polygon.push([p[0], p[1]]);
  }
  return ok({ classIndex: pos + 1, score, field, polygon });
}

/** Instances one record may hold: past this a line is a reject, not minutes of painting. */
export const MAX_INSTANCES = 1000;
/**
 * Pixels painting one record's instances may visit (each RLE instance costs the
 * image, each polygon its rows): bounds the time one crafted line can take.
 */
export const MAX_PAINT_PIXELS = 1 << 30;

/** Rows a polygon touches, clipped to the image: [from, to). */
function polygonRows(polygon: ReadonlyArray<readonly [number, number]>, height: number): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const [, y] of polygon) {
    if (y < lo) lo = y;
    if (y > hi) hi = y;
  }
  return [Math.max(0, Math.floor(lo) - 1), Math.min(height, Math.ceil(hi) + 1)];
}

function paintInstances(
  raw: unknown[],
  declared: ExpectedSize | undefined,
  opts: SegmentationParseOptions,
): SegResult<Omit<SegmentationPrediction, 'id' | 'image'>> {
  const instances: Instance[] = [];
  if (raw.length > MAX_INSTANCES) return fail('instances', `${raw.length} instances, above the limit of ${MAX_INSTANCES} per record`);
  for (let i = 0; i < raw.length; i++) {
    const r = readInstance(raw[i], i, opts);
    if (!r.ok) return r;
    instances.push(r.value);
  }
  let size = declared;
  const firstRle = instances.find((x) => x.rle !== undefined);
  if (!size && firstRle && isObj(firstRle.rle) && Array.isArray(firstRle.rle.size)) {
    const [h, w] = firstRle.rle.size as number[];
    size = { width: w, height: h };
  }
  if (!size) return fail('width', 'width and height are needed when every instance is a polygon');
  const { width, height } = size;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1)
    return fail('width', `image size ${JSON.stringify(width)}x${JSON.stringify(height)} is not two positive integers`);
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) return fail('width', `${width}x${height} is above the limit of ${maxPixels} pixels`);
  let work = 0;
  const classes = new Uint8Array(width * height);
  const confidence = new Uint8Array(width * height);
  const order = instances.map((_, i) => i).sort((a, b) => instances[a].score - instances[b].score || a - b);
  // A one-instance scratch raster: painting through it lets RLE and polygon instances share the confidence step.
  const one = new Uint8Array(width * height);
  for (const i of order) {
    const inst = instances[i];
    // Rows this instance may paint: the whole image for an RLE, the polygon's rows otherwise.
    const [from, to] = inst.rle !== undefined ? [0, height] : polygonRows(inst.polygon as [number, number][], height);
    work += (to - from) * width;
    if (work > MAX_PAINT_PIXELS)
      return fail('instances', `painting ${instances.length} instances of a ${width}x${height} image visits more than ${MAX_PAINT_PIXELS} pixels`);
    one.fill(0, from * width, to * width);
    if (inst.rle !== undefined) {
      const declared = isObj(inst.rle) && Array.isArray(inst.rle.size) ? (inst.rle.size as unknown[]) : null;
      // Checked before decoding, so an RLE claiming a huge size is refused before anything is allocated.
      if (declared && (declared[0] !== height || declared[1] !== width))
        return fail(`${inst.field}.rle.size`, `mask is ${JSON.stringify(declared[1])}x${JSON.stringify(declared[0])} but the image is ${width}x${height}`);
      const d = decodeRle(inst.rle, `${inst.field}.rle`);
      if (!d.ok) return d;
      if (d.value.width !== width || d.value.height !== height)
        return fail(`${inst.field}.rle.size`, `mask is ${d.value.width}x${d.value.height} but the image is ${width}x${height}`);
      one.set(d.value.data);
    } else {
      fillPolygon([inst.polygon as [number, number][]], 1, one, width, height);
    }
    const b = Math.round(inst.score * 255);
    for (let p = from * width; p < to * width; p++) {
      if (one[p] !== 0) {
        classes[p] = inst.classIndex;
        confidence[p] = b;
      }
    }
  }
  return ok({ width, height, classes, confidence, instanceScores: instances.map((x) => x.score) });
}
