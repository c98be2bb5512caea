/**
 * Raw objects as items (cold start, `predictions.format: objects`): which
 * objects under the prefix count, what each becomes (an image, an audio clip,
 * a text, or one item per line of a raw JSONL file), the one-time probe of
 * each new object (image size from a ranged read of its header; text size
 * from the listing), and the content read back for the few items a round queues.
 *
 * Item ids are the object's URI (`gs://bucket/project/raw/a/1.jpg`), or for a
 * raw JSONL line its `id` field, else `URI#L<line>`. A model pipeline that
 * later writes predictions with the same ids continues the same history.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import picomatch from 'picomatch';
import type { ProjectConfig } from '../../config/schema.js';
import { IMAGE_HEADER_BYTES, imageSize } from '../../scoring/image-size.js';
import type { Reject, TaskType } from '../../scoring/types.js';
import { chunkLines } from './chunker.js';
import { withRetry } from '../core/retry.js';
import { decompressed, isVertexErrorsFile } from './sources.js';
import { consumedKey } from '../store/listing.js';
import type { ObjectInfo, ObjectStore } from '../store/store.js';

export type RawKind = 'image' | 'audio' | 'text' | 'record';

/** An object a raw round consumes: pinned by generation in the round plan. */
export interface PlannedObject {
  name: string;
  generation: string;
  size: number;
  /** Custom object metadata (GCS `x-goog-meta-*`), for `stratifyBy: meta.<field>`. */
  metadata?: Record<string, string>;
}

/** One discovered item: a line of `rounds/R/objects.jsonl`. */
export interface RawItem {
  id: string;
  /** Object name under the project. */
  object: string;
  generation: string;
  /** 1-based line for raw JSONL records, 0 for a whole object. */
  line: number;
  kind: RawKind;
  /** Folder under the prefix (`line-a`, `2026/eu`), `.` at the top. */
  folder: string;
  meta?: Record<string, unknown>;
  width?: number;
  height?: number;
}

/** What a queued item shows the reviewer. */
export interface RawContent {
  text?: string;
  image?: string;
  audio?: string;
  width?: number;
  height?: number;
}

const IMAGE_EXT = /\.(jpe?g|png|gif|webp|bmp|avif|tiff?|svg)$/i;
const SIZED_IMAGE_EXT = /\.(jpe?g|png|gif|webp)$/i;
const AUDIO_EXT = /\.(wav|mp3|ogg|oga|opus|flac|m4a|aac|webm)$/i;
const TEXT_EXT = /\.(txt|md|markdown)$/i;
const RECORDS_EXT = /\.(jsonl|ndjson)(\.gz)?$/i;
/** Largest header read for an image size (EXIF thumbnails can push a JPEG's SOF far in). */
const MAX_HEADER_BYTES = 1024 * 1024;
const PROBE_CONCURRENCY = 16;

export function rawKindOf(name: string): RawKind | null {
  if (IMAGE_EXT.test(name)) return 'image';
  if (AUDIO_EXT.test(name)) return 'audio';
  if (TEXT_EXT.test(name)) return 'text';
  if (RECORDS_EXT.test(name)) return 'record';
  return null;
}

/** The media field a task shows: text tasks read text, image tasks images, audio tasks audio. */
export function mediaOf(task: TaskType): 'text' | 'image' | 'audio' {
  if (task === 'image' || task === 'image-boxes' || task === 'image-segmentation') return 'image';
  if (task === 'audio') return 'audio';
  return 'text';
}

function relative(prefix: string, name: string): string {
  return name.startsWith(prefix) ? name.slice(prefix.length).replace(/^\/+/, '') : name;
}

/** Names to consume: under the prefix, matching `include` (relative to the prefix), never markers (`_SUCCESS`, `.tmp`); by default no Vertex AI error reports. */
export function rawObjectFilter(prefix: string, include: string | string[] | undefined): (name: string) => boolean {
  const match = include ? picomatch(include, { dot: false }) : null;
  return (name) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    if (base.length === 0 || base.startsWith('_') || base.startsWith('.')) return false;
    // Vertex AI error reports are no raw items; explicit globs may still take them.
    return match === null ? !isVertexErrorsFile(base) : match(relative(prefix, name));
  };
}

export function folderOf(prefix: string, name: string): string {
  const dir = path.posix.dirname(relative(prefix, name));
  return dir === '' ? '.' : dir;
}

export function planned(o: ObjectInfo): PlannedObject {
  const p: PlannedObject = { name: o.name, generation: o.generation, size: o.size };
  if (o.metadata && Object.keys(o.metadata).length > 0) p.metadata = o.metadata;
  return p;
}

async function readRange(store: ObjectStore, o: PlannedObject, bytes: number): Promise<Buffer> {
  // A ranged read is idempotent, so it may be retried as a whole.
  return withRetry(async () => {
    const parts: Buffer[] = [];
    for await (const b of store.readStream(o.name, { generation: o.generation, range: { start: 0, end: Math.min(bytes, o.size) - 1 } }))
      parts.push(b as Buffer);
    return Buffer.concat(parts);
  });
}

/** Width and height from the first bytes, reading more only when a JPEG's header runs long. */
async function probeImage(store: ObjectStore, o: PlannedObject): Promise<{ width: number; height: number } | { reason: string }> {
  if (o.size === 0) return { reason: 'empty image object' };
  let want = Math.min(IMAGE_HEADER_BYTES, o.size);
  for (;;) {
    const r = imageSize(await readRange(store, o, want));
    if (r.ok) return { width: r.width, height: r.height };
    if (r.needBytes === undefined || want >= o.size || want >= MAX_HEADER_BYTES) return { reason: `cannot read the image size: ${r.reason}` };
    want = Math.min(o.size, MAX_HEADER_BYTES, Math.max(r.needBytes, 2 * want));
  }
}

/** Lines of an object (gunzipped when needed), with bounded memory; oversized lines come back without text. */
export async function* objectLines(
  store: ObjectStore,
  o: { name: string; generation?: string },
  maxLineBytes: number,
): AsyncGenerator<{ line: number; text: string | null }> {
  const bytes = decompressed(store.readStream(o.name, { generation: o.generation }), o.name);
  const decoder = new TextDecoder();
  for await (const c of chunkLines(bytes, { chunkBytes: 1024 * 1024, maxLineBytes })) {
    if ('oversized' in c) {
      yield { line: c.line, text: null };
      continue;
    }
    const lines = decoder.decode(c.bytes).split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    for (let i = 0; i < lines.length; i++) yield { line: c.firstLine + i, text: lines[i].replace(/\r$/, '') };
  }
}

export interface DiscoverOptions {
  project: ProjectConfig;
  /** Records on longer lines are rejected unread. */
  maxLineBytes: number;
  /** Stops probing between objects (shutdown past the grace period). */
  signal?: AbortSignal;
}

/** Probes new objects once (in plan order, so the output is deterministic) and turns them into items and rejects. */
export async function discover(store: ObjectStore, objects: PlannedObject[], opts: DiscoverOptions): Promise<{ items: RawItem[]; rejects: Reject[] }> {
  const results: Array<{ items: RawItem[]; rejects: Reject[] }> = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      opts.signal?.throwIfAborted();
      const i = next++;
      results[i] = await discoverOne(store, objects[i], opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, objects.length) }, worker));
  return { items: results.flatMap((r) => r.items), rejects: results.flatMap((r) => r.rejects) };
}

async function discoverOne(store: ObjectStore, o: PlannedObject, opts: DiscoverOptions): Promise<{ items: RawItem[]; rejects: Reject[] }> {
  const { project } = opts;
  const uri = store.uri(o.name);
  const reject = (reason: string, line = 0, extra: Partial<Reject> = {}) => ({ items: [], rejects: [{ object: uri, line, ...extra, reason }] });
  const kind = rawKindOf(o.name);
  const want = mediaOf(project.task);
  if (kind === null) return reject(`unsupported object type; raw objects are images, audio, .txt/.md text or .jsonl records (narrow predictions.include)`);
  const base = {
    object: o.name,
    generation: o.generation,
    line: 0,
    folder: folderOf(project.predictions.prefix, o.name),
    ...(o.metadata ? { meta: o.metadata } : {}),
  };
  if (kind === 'record') return discoverRecords(store, o, uri, base.folder, opts);
  if (kind !== want) return reject(`${kind} object, but task ${project.task} reviews ${want}`);
  if (kind === 'text' && o.size > project.predictions.maxTextBytes) {
    return reject(`text object is ${o.size} bytes, above predictions.maxTextBytes (${project.predictions.maxTextBytes})`);
  }
  const item: RawItem = { id: uri, ...base, kind };
  if (kind === 'image' && SIZED_IMAGE_EXT.test(o.name)) {
    const size = await probeImage(store, o);
    if ('reason' in size) return reject(size.reason, 0, { id: uri });
    item.width = size.width;
    item.height = size.height;
  }
  return { items: [item], rejects: [] };
}

type Parsed = { ok: true; id: string | null; content: RawContent; meta?: Record<string, unknown> } | { ok: false; reason: string; field?: string; id?: string };

/** A raw record: `{"text": …}` (or image/audio URI), optional `id`, `meta`, `width`/`height`; scores, if any, are ignored. */
export function parseRawRecord(text: string, want: 'text' | 'image' | 'audio', maxTextBytes: number): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, reason: 'expected a JSON object' };
  const r = v as Record<string, unknown>;
  let id: string | null = null;
  if (typeof r.id === 'string' && r.id.length > 0) id = r.id;
  else if (typeof r.id === 'number' && Number.isSafeInteger(r.id)) id = String(r.id);
  else if (r.id !== undefined && r.id !== null) return { ok: false, field: 'id', reason: 'must be a non-empty string or an integer' };
  const fail = (field: string, reason: string): Parsed => ({ ok: false, field, reason, ...(id !== null ? { id } : {}) });
  const value = r[want];
  if (typeof value !== 'string' || value.length === 0) return fail(want, `missing: task reviews ${want}`);
  if (want === 'text' && Buffer.byteLength(value) > maxTextBytes)
    return fail('text', `text is ${Buffer.byteLength(value)} bytes, above predictions.maxTextBytes (${maxTextBytes})`);
  const content: RawContent = { [want]: value };
  for (const k of ['width', 'height'] as const) if (typeof r[k] === 'number' && Number.isInteger(r[k]) && (r[k] as number) > 0) content[k] = r[k] as number;
  const meta = typeof r.meta === 'object' && r.meta !== null && !Array.isArray(r.meta) ? (r.meta as Record<string, unknown>) : undefined;
  return { ok: true, id, content, ...(meta ? { meta } : {}) };
}

async function discoverRecords(
  store: ObjectStore,
  o: PlannedObject,
  uri: string,
  folder: string,
  opts: DiscoverOptions,
): Promise<{ items: RawItem[]; rejects: Reject[] }> {
  const want = mediaOf(opts.project.task);
  const items: RawItem[] = [];
  const rejects: Reject[] = [];
  for await (const { line, text } of objectLines(store, o, opts.maxLineBytes)) {
    if (text !== null && text.trim() === '') continue;
    if (text === null) {
      rejects.push({ object: uri, line, reason: `line longer than ${opts.maxLineBytes} bytes` });
      continue;
    }
    const p = parseRawRecord(text, want, opts.project.predictions.maxTextBytes);
    if (!p.ok) {
      rejects.push({ object: uri, line, ...(p.id !== undefined ? { id: p.id } : {}), ...(p.field !== undefined ? { field: p.field } : {}), reason: p.reason });
      continue;
    }
    items.push({
      id: p.id ?? `${uri}#L${line}`,
      object: o.name,
      generation: o.generation,
      line,
      kind: 'record',
      folder,
      ...(p.meta ? { meta: p.meta } : {}),
      ...(p.content.width ? { width: p.content.width } : {}),
      ...(p.content.height ? { height: p.content.height } : {}),
    });
  }
  return { items, rejects };
}

/**
 * What the queued items show: URIs for media (the round's `mediaUrl` hook
 * signs them), text read back from its object or its JSONL line. Each object
 * is read once, pinned to the generation the item was discovered in.
 */
export async function loadContent(store: ObjectStore, items: RawItem[], project: ProjectConfig, maxLineBytes: number): Promise<Map<string, RawContent>> {
  const out = new Map<string, RawContent>();
  const want = mediaOf(project.task);
  const byObject = new Map<string, RawItem[]>();
  for (const it of items) {
    if (it.kind === 'record') {
      const key = consumedKey(it.object, it.generation);
      const list = byObject.get(key);
      if (list) list.push(it);
      else byObject.set(key, [it]);
    } else if (it.kind === 'text') {
      const bytes = await store.read(it.object, { generation: it.generation });
      // Invalid UTF-8 shows as U+FFFD rather than losing the item; a leading BOM is not text.
      out.set(it.id, { text: new TextDecoder().decode(bytes) });
    } else {
      const uri = store.uri(it.object);
      // Prodigy reads local media by path (it cannot fetch file:// URLs); gs:// URIs go to the signing hook.
      const media = uri.startsWith('file://') ? fileURLToPath(uri) : uri;
      out.set(it.id, { [it.kind]: media, ...(it.width ? { width: it.width, height: it.height } : {}) });
    }
  }
  for (const list of byObject.values()) {
    const wanted = new Map(list.map((it) => [it.line, it]));
    for await (const { line, text } of objectLines(store, { name: list[0].object, generation: list[0].generation }, maxLineBytes)) {
      const it = wanted.get(line);
      if (!it || text === null) continue;
      const p = parseRawRecord(text, want, project.predictions.maxTextBytes);
      if (p.ok) out.set(it.id, p.content);
    }
  }
  return out;
}
