/**
 * Merge: read the Prodigy exports not yet consumed, join them to items,
 * resolve, and commit snapshot v(n+1) = v(n) + corrections. Deterministic for
 * a given (v(n), new exports), so a rerun after a crash rewrites the same
 * bytes, and a lost race re-reads and re-applies on top of the winner.
 */
import { gunzipSync } from 'node:zlib';
import type { ProjectConfig } from '../config/schema.js';
import type { TaskType } from '../scoring/types.js';
import { ReviewloopError, isReviewloopError } from './errors.js';
import { silentLogger, type Logger } from './log.js';
import type { Answer, ConsumedObject, SnapshotManifest, SnapshotRow } from './model.js';
import { answerKey, parseExportLine, type BadExportLine, type ParsedExportLine } from './prodigy-exports.js';
import { inputHash as projectInputHash } from './prodigy-tasks.js';
import { resolveAnswers } from './resolve.js';
import { listSnapshots, moveLatest, readSnapshotRows, writeSnapshot } from './snapshot.js';
import { unconsumedObjects } from './listing.js';
import { mediaUriOf } from './media.js';
import { withRetry } from './retry.js';
import { recoverMergeStats, writeMergeStats } from './merge-stats.js';
import type { StatsSink } from './stats/sink.js';
import type { ObjectStore } from './store.js';

export interface MergeOptions {
  project: ProjectConfig;
  store: ObjectStore;
  sink: StatsSink | null;
  logger?: Logger;
  /** Attempts in total when concurrent merges take the same version (each re-reads and re-applies). Default 8. */
  maxAttempts?: number;
}

export interface MergeResult {
  status: 'created' | 'nothing-new';
  version: number | null;
  manifest: SnapshotManifest | null;
  badLines: BadExportLine[];
}

const MAX_EXPORT_BYTES = 2 * 1024 * 1024 * 1024;

export function isExportObject(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return !base.startsWith('.') && !base.startsWith('_') && /\.(jsonl|ndjson)(\.gz)?$/i.test(base);
}

interface RoundItem { id: string; rank: number; audit: boolean; p: number | null; score: number; model: string | null; source: string; prediction: Record<string, unknown> }

async function readText(store: ObjectStore, o: ConsumedObject): Promise<string> {
  const raw = await store.read(o.name, { generation: o.generation });
  const gz = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  try {
    return (gz ? gunzipSync(raw, { maxOutputLength: MAX_EXPORT_BYTES }) : raw).toString('utf8');
  } catch (err) {
    throw new ReviewloopError('INPUT_INVALID', `${store.uri(o.name)}: cannot decompress: ${(err as Error).message}`, { cause: err });
  }
}

function emptyRow(id: string, task: TaskType, version: number): SnapshotRow {
  return {
    id, task, text: null, image: null, audio: null, width: null, height: null, label: null, labels: [], negatives: [],
    spans: null, boxes: null, audio_spans: null, tokens: null, status: 'ignored', provenance: 'external', round: null,
    model: null, score: null, audit: false, inclusion_p: null, prediction_source: null, prediction: null,
    annotators: [], answered_at: null, answers: [], input_hash: 0, task_hash: 0, version,
  };
}

export async function runMerge(opts: MergeOptions): Promise<MergeResult> {
  const log = (opts.logger ?? silentLogger).child({ project: opts.project.name, job: 'merge' });
  const attempts = opts.maxAttempts ?? 8;
  // A CONFLICT on the snapshot's files means another merge took this version: it has committed
  // (rebase at once) or is still writing (back off, then rebase on top of it).
  return withRetry(async (attempt) => {
    const result = await mergeOnce(opts, log);
    if (result !== 'lost-race') return result;
    throw new ReviewloopError('CONFLICT', `another merge committed first ${attempt + 1} time(s) in a row`, { retryable: true });
  }, {
    maxAttempts: attempts, baseDelayMs: 250, budgetMs: 120_000,
    retryable: (err) => isReviewloopError(err, 'CONFLICT'),
    onRetry: (err) => log.warn(`${(err as Error).message}; re-reading and re-applying`),
  });
}

async function mergeOnce(opts: MergeOptions, log: Logger): Promise<MergeResult | 'lost-race'> {
  const { store, project } = opts;
  const snaps = await listSnapshots(store);
  const head = snaps.length > 0 ? snaps[snaps.length - 1] : null;
  // A crash between the manifest and the pointer leaves LATEST behind: catch it up first.
  if (head) await moveLatest(store, head);
  // A crash between the pointer and the stats leaves a snapshot without stats: write them first.
  // A sink that is down must not hold back new corrections: they are tried again on the next run.
  if (opts.sink) {
    await recoverMergeStats(store, opts.sink, project, snaps, log)
      .catch((err: unknown) => log.warn(`stats of earlier snapshots not written yet: ${(err as Error).message}`));
  }
  const found = await unconsumedObjects(store, 'annotations/', {
    consumed: snaps.flatMap((s) => s.consumed), runsBefore: snaps.length, listing: project.merge.listing, accept: isExportObject,
  });
  const fresh: ConsumedObject[] = found.objects.map((o) => ({ name: o.name, generation: o.generation, size: o.size }));
  if (fresh.length === 0) {
    log.info('no new exports; nothing changed');
    return { status: 'nothing-new', version: head?.version ?? null, manifest: head, badLines: [] };
  }
  const version = (head?.version ?? 0) + 1;
  const base = head ? await readSnapshotRows(store, head.version) : [];
  const rows = new Map(base.map((r) => [r.id, r]));
  const byHash = new Map<number, string>();
  for (const r of base) if (!byHash.has(r.input_hash)) byHash.set(r.input_hash, r.id);
  // Identity of every merged answer: an export re-written with more lines (new generation) only adds the new ones.
  const seenKeys = new Set<string>();
  for (const r of base) for (const a of r.answers) seenKeys.add(answerKey(r.id, a));
  const badLines: BadExportLine[] = [];
  const changed = new Set<string>();
  const added = new Set<string>();
  const roundItems = new Map<string, Map<string, RoundItem> | null>();
  let answersMerged = 0;
  let duplicates = 0;
  const singleLabel = project.task !== 'textcat-multilabel';

  const itemsOf = async (round: string): Promise<Map<string, RoundItem> | null> => {
    if (!roundItems.has(round)) {
      let map: Map<string, RoundItem> | null = null;
      try {
        const text = (await store.read(`rounds/${round}/items.jsonl`)).toString('utf8');
        map = new Map();
        for (const line of text.split('\n')) if (line) { const it = JSON.parse(line) as RoundItem; map.set(it.id, it); }
      } catch (err) {
        if (!isReviewloopError(err, 'NOT_FOUND') && !isReviewloopError(err, 'PATH_INVALID')) throw err;
      }
      roundItems.set(round, map);
    }
    return roundItems.get(round)!;
  };

  fresh.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.generation < b.generation ? -1 : 1));
  for (const obj of fresh) {
    const objectKeys = new Set<string>();
    const text = await readText(store, obj);
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].replace(/\r$/, '');
      if (line.trim() === '') continue;
      const parsed = parseExportLine(line, obj.name, i + 1);
      if (!parsed.ok) { badLines.push(parsed.bad); continue; }
      const p = parsed.value;
      const id = p.id ?? byHash.get(p.inputHash) ?? `input:${p.inputHash}`;
      const key = answerKey(id, p.answer);
      if (seenKeys.has(key)) { duplicates++; continue; }
      objectKeys.add(key);
      let row = rows.get(id);
      if (!row) {
        row = await newRow(id, p, project.task, version, itemsOf);
        row.input_hash = p.id !== null ? projectInputHash(project.name, id) : p.inputHash;
        rows.set(id, row);
        if (!byHash.has(row.input_hash)) byHash.set(row.input_hash, id);
        added.add(id);
      }
      if (row.task_hash === 0 && p.taskHash !== null) row.task_hash = p.taskHash;
      row.answers = [...row.answers, p.answer];
      changed.add(id);
      answersMerged++;
    }
    for (const k of objectKeys) seenKeys.add(k);
  }

  for (const id of changed) {
    const row = rows.get(id)!;
    const r = resolveAnswers(row.answers, project.merge.conflict, singleLabel);
    Object.assign(row, r);
    row.annotators = [...new Set(row.answers.map((a) => a.annotator).filter((a): a is string => a !== null))].sort();
    const times = row.answers.map((a) => a.timestamp).filter((t): t is number => t !== null);
    row.answered_at = times.length > 0 ? Math.max(...times) : null;
    row.version = version;
  }
  const all = [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let newest: number | null = null;
  for (const r of all) if (r.answered_at !== null && (newest === null || r.answered_at > newest)) newest = r.answered_at;
  const asOf = newest === null ? null : new Date(newest * 1000).toISOString();
  const { committed, manifest } = await writeSnapshot(store, {
    rows: all,
    formats: project.snapshot.formats,
    rejects: badLines.map((b) => `${JSON.stringify(b)}\n`).join(''),
    manifest: {
      kind: 'reviewloop.snapshot', schemaVersion: 1, project: project.name, version, parent: head?.version ?? null, asOf,
      consumed: fresh,
      counts: {
        items: all.length, labelled: all.filter((r) => r.status === 'labelled').length,
        changed: changed.size, added: added.size, answers: answersMerged, duplicates, badLines: badLines.length,
      },
    },
  });
  if (!committed) return 'lost-race';
  await moveLatest(store, manifest);
  if (badLines.length > 0) {
    log.warn(`${badLines.length} export line(s) skipped; first: ${badLines[0].object} line ${badLines[0].line} ${badLines[0].field}: ${badLines[0].reason}`);
  }
  log.info(`snapshot v${version}: ${answersMerged} answer(s) from ${fresh.length} export(s), ${changed.size} item(s) changed, ${added.size} added`);
  if (opts.sink) await writeMergeStats(store, opts.sink, project, manifest, all);
  return { status: 'created', version, manifest, badLines };
}

async function newRow(id: string, p: ParsedExportLine, task: TaskType, version: number, itemsOf: (round: string) => Promise<Map<string, RoundItem> | null>): Promise<SnapshotRow> {
  const row = emptyRow(id, task, version);
  const t = p.task;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  row.text = str(t.text);
  // Reviewers saw signed URLs; the snapshot keeps the stable gs:// URI, never an expiring bearer URL.
  row.image = typeof t.image === 'string' ? mediaUriOf(t.image) : null;
  row.audio = typeof t.audio === 'string' ? mediaUriOf(t.audio) : null;
  if (typeof t.width === 'number') row.width = t.width;
  if (typeof t.height === 'number') row.height = t.height;
  if (Array.isArray(t.tokens)) row.tokens = t.tokens;
  const meta = (t.meta && typeof t.meta === 'object' ? t.meta : {}) as Record<string, unknown>;
  const round = typeof meta.round === 'string' ? meta.round : null;
  const item = round !== null && p.id !== null ? (await itemsOf(round))?.get(p.id) ?? null : null;
  if (item && round !== null) {
    row.provenance = 'round';
    row.round = round;
    row.model = item.model;
    row.score = item.score;
    row.audit = item.audit;
    row.inclusion_p = item.p;
    row.prediction_source = item.source;
    row.prediction = item.prediction;
  }
  return row;
}

/** Answers and rows are plain data; exported for tests that check lineage. */
export type { Answer };
