/**
 * Merge: read the Prodigy exports not yet consumed, join them to items,
 * resolve, and commit snapshot v(n+1) = v(n) + corrections. Deterministic for
 * a given (v(n), new exports), so a rerun after a crash rewrites the same
 * bytes, and a lost race re-reads and re-applies on top of the winner.
 */
import type { ProjectConfig } from '../../config/schema.js';
import type { TaskType } from '../../scoring/types.js';
import { ReviewloopError, isReviewloopError } from '../../domain/errors.js';
import { ANNOTATOR_METADATA_KEY } from '../../domain/prodigy/annotators.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { Answer, ConsumedObject, SnapshotManifest, SnapshotRow } from '../../domain/records.js';
import { annotatorName, answerKey, timestampProblem, type BadExportLine, type ParsedExportLine } from '../../domain/prodigy/exports.js';
import { checkParsed, exportRules, parseForProject, roundToLookUp, type CheckContext } from '../../domain/prodigy/validate.js';
import { exportLines, isUnreadable } from './export-lines.js';
import { exportKey, readQuarantine, recordQuarantine, sortExports, type QuarantinedExport } from './export-quarantine.js';
import { inputHash as projectInputHash } from '../../domain/prodigy/tasks.js';
import { segmentationMasks } from './segmentation-masks.js';
import { resolveAnswers } from '../../domain/prodigy/resolve.js';
import { listSnapshots, moveLatest, readSnapshotRows, writeSnapshot } from '../snapshot/snapshot.js';
import { unconsumedObjects } from '../store/listing.js';
import { mediaUriOf } from '../media/task-media.js';
import { loadRoundItems, type RoundItem } from '../round/round-items.js';
import { withRetry } from '../core/retry.js';
import { VERDICT_META_KEYS, VerdictLedger } from './label-verdicts.js';
import { recoverMergeStats, writeMergeStats } from './merge-stats.js';
import type { StatsSink } from '../stats/sinks/sink.js';
import type { ObjectStore } from '../store/store.js';

export interface MergeOptions {
  project: ProjectConfig;
  store: ObjectStore;
  sink: StatsSink | null;
  logger?: Logger;
  /**
   * Called once the new exports are known, with their count and bytes (undefined when some are gzip);
   * what it returns hears (lines, bytes) as they are read, and `done` when reading ends. The CLI
   * draws its progress bar from it; the daemon passes none.
   */
  onReading?: (plan: { exports: number; bytes: number | undefined }) => { update(lines: number, bytes: number): void; done(): void };
  /** Attempts in total when concurrent merges take the same version (each re-reads and re-applies). Default 8. */
  maxAttempts?: number;
}

export interface MergeResult {
  status: 'created' | 'nothing-new';
  version: number | null;
  manifest: SnapshotManifest | null;
  badLines: BadExportLine[];
  /** Exports that could not be read, not yet listed by an earlier snapshot. */
  quarantined: QuarantinedExport[];
}

export function isExportObject(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return !base.startsWith('.') && !base.startsWith('_') && /\.(jsonl|ndjson)(\.gz)?$/i.test(base);
}

/** A row with no content, answers or lineage yet. */
export function emptyRow(id: string, task: TaskType, version: number): SnapshotRow {
  return {
    id,
    task,
    text: null,
    image: null,
    audio: null,
    width: null,
    height: null,
    label: null,
    labels: [],
    negatives: [],
    spans: null,
    boxes: null,
    audio_spans: null,
    tokens: null,
    status: 'ignored',
    provenance: 'external',
    round: null,
    model: null,
    score: null,
    audit: false,
    inclusion_p: null,
    prediction_source: null,
    prediction: null,
    annotators: [],
    answered_at: null,
    answers: [],
    input_hash: 0,
    task_hash: 0,
    version,
  };
}

export async function runMerge(opts: MergeOptions): Promise<MergeResult> {
  const log = (opts.logger ?? silentLogger).child({ project: opts.project.name, job: 'merge' });
  const attempts = opts.maxAttempts ?? 8;
  // A CONFLICT on the snapshot's files means another merge took this version: it has committed
  // (rebase at once) or is still writing (back off, then rebase on top of it).
  return withRetry(
    async (attempt) => {
      const result = await mergeOnce(opts, log);
      if (result !== 'lost-race') return result;
      throw new ReviewloopError('CONFLICT', `another merge committed first ${attempt + 1} time(s) in a row`, { retryable: true });
    },
    {
      maxAttempts: attempts,
      baseDelayMs: 250,
      budgetMs: 120_000,
      retryable: (err) => isReviewloopError(err, 'CONFLICT'),
      onRetry: (err) => log.warn(`${(err as Error).message}; re-reading and re-applying`),
    },
  );
}

/** One readable export's valid answers, applied only once the whole object has been read. */
interface ReadExport {
  obj: ConsumedObject;
  lines: ParsedExportLine[];
}

type ReadOutcome = { ok: true; value: ReadExport } | { ok: false; reason: string } | { ok: false; vanished: true };

/** Reads one export line by line, validating each line; the object's bytes failing quarantines it whole. */
async function readExport(
  store: ObjectStore,
  obj: ConsumedObject,
  ctx: CheckContext,
  itemsOf: (round: string) => Promise<unknown>,
  badLines: BadExportLine[],
  onLine?: (bytes: number) => void,
): Promise<ReadOutcome> {
  const lines: ParsedExportLine[] = [];
  const bad: BadExportLine[] = [];
  const what = store.uri(obj.name);
  try {
    for await (const l of exportLines(store.readStream(obj.name, { generation: obj.generation }) as AsyncIterable<Buffer>, what)) {
      onLine?.(l.text === null ? 0 : Buffer.byteLength(l.text) + 1);
      if (l.text === null) {
        bad.push({ object: obj.name, line: l.line, field: '(line)', reason: l.reason });
        continue;
      }
      const parsed = parseForProject(l.text, obj.name, l.line, ctx);
      const round = parsed.ok ? roundToLookUp(parsed.value, ctx.rules) : null;
      if (round !== null) await itemsOf(round);
      const checked = checkParsed(parsed, obj.name, l.line, ctx);
      if (checked.ok) lines.push(slim(checked.value));
      else bad.push(checked.bad);
    }
  } catch (err) {
    if (isUnreadable(err)) return { ok: false, reason: String(err.details.reason) };
    // Deleted between the listing and the read: not this merge's to consume.
    if (isReviewloopError(err, 'NOT_FOUND')) return { ok: false, vanished: true };
    throw err;
  }
  badLines.push(...bad);
  return { ok: true, value: { obj, lines } };
}

/** What a new row needs from the exported task; the rest of a line is not kept while the merge runs. */
function slim(p: ParsedExportLine): ParsedExportLine {
  const t = p.task;
  const meta = t.meta && typeof t.meta === 'object' ? (t.meta as Record<string, unknown>) : {};
  const kept: Record<string, unknown> = { round: meta.round };
  if (meta.strategy === 'label-issues') for (const k of VERDICT_META_KEYS) kept[k] = meta[k];
  const task: Record<string, unknown> = { meta: kept };
  for (const k of ['text', 'image', 'audio', 'width', 'height', 'tokens', 'options']) if (t[k] !== undefined) task[k] = t[k];
  return { ...p, task };
}

async function listFresh(
  store: ObjectStore,
  project: ProjectConfig,
  snaps: SnapshotManifest[],
  skip: Set<string>,
): Promise<Array<ConsumedObject & { owner: string | null }>> {
  const found = await unconsumedObjects(store, 'annotations/', {
    consumed: snaps.flatMap((s) => s.consumed),
    runsBefore: snaps.length,
    listing: project.merge.listing,
    accept: isExportObject,
    skip,
  });
  const fresh = found.objects.map((o) => {
    const owner = o.metadata?.[ANNOTATOR_METADATA_KEY];
    return { name: o.name, generation: o.generation, size: o.size, owner: typeof owner === 'string' && owner.length > 0 ? owner : null };
  });
  return sortExports(fresh);
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
    await recoverMergeStats(store, opts.sink, project, snaps, log).catch((err: unknown) =>
      log.warn(`stats of earlier snapshots not written yet: ${(err as Error).message}`),
    );
  }
  const skip = new Set<string>();
  for (const s of snaps) for (const c of s.consumed) skip.add(exportKey(c));
  const recorded = new Set(snaps.flatMap((s) => (s.quarantined ?? []).map(exportKey)));
  const marked = await readQuarantine(store);
  for (const q of marked) skip.add(exportKey(q));
  const fresh = await listFresh(store, project, snaps, skip);

  const roundItems = new Map<string, Map<string, RoundItem> | null>();
  const itemsOf = async (round: string): Promise<Map<string, RoundItem> | null> => {
    if (!roundItems.has(round)) roundItems.set(round, await loadRoundItems(store, round));
    return roundItems.get(round)!;
  };
  const rules = exportRules(project);
  const known = (round: string, id: string) => roundItems.get(round)?.has(id) ?? false;
  const badLines: BadExportLine[] = [];
  const read: ReadExport[] = [];
  const quarantined: QuarantinedExport[] = marked.filter((q) => !recorded.has(exportKey(q)));
  // Gzip exports: their stored size is not what is read, so no total (and no ETA) then.
  const gzip = fresh.some((o) => /\.gz$/i.test(o.name));
  const progress = fresh.length > 0 ? opts.onReading?.({ exports: fresh.length, bytes: gzip ? undefined : fresh.reduce((n, o) => n + o.size, 0) }) : undefined;
  let linesRead = 0;
  let bytesRead = 0;
  const onLine = progress && ((bytes: number) => progress.update(++linesRead, (bytesRead += bytes)));
  for (const { owner, ...obj } of fresh) {
    const r = await readExport(store, obj, { rules, known, owner }, itemsOf, badLines, onLine);
    if (r.ok) {
      read.push(r.value);
      continue;
    }
    if ('vanished' in r) {
      log.warn(`${store.uri(obj.name)} disappeared before it was read; skipped`);
      continue;
    }
    const q: QuarantinedExport = { ...obj, reason: r.reason };
    // Recorded before any snapshot: a merge with nothing else to commit still keeps it from being read again.
    await recordQuarantine(store, q);
    quarantined.push(q);
    log.warn(`quarantined ${store.uri(obj.name)} (generation ${obj.generation}): ${r.reason}`);
  }
  progress?.done();
  sortExports(quarantined);
  if (read.length === 0) {
    if (quarantined.length === 0) log.info('no new exports; nothing changed');
    else log.info(`no readable new exports; ${quarantined.length} quarantined export(s) wait for the next snapshot's manifest`);
    return { status: 'nothing-new', version: head?.version ?? null, manifest: head, badLines, quarantined };
  }
  return commitSnapshot(opts, log, head, read, badLines, quarantined, itemsOf);
}

/** The head snapshot's rows with the new answers applied: a repeated answer (same item, same answer) counts once. */
async function applyAnswers(
  opts: MergeOptions,
  head: SnapshotManifest | null,
  read: ReadExport[],
  version: number,
  itemsOf: (round: string) => Promise<Map<string, RoundItem> | null>,
) {
  const { store, project } = opts;
  const base = head ? await readSnapshotRows(store, head.version) : [];
  for (const r of base) nameReviewers(r, project.queue.annotators ?? []);
  const rows = new Map(base.map((r) => [r.id, r]));
  const byHash = new Map<number, string>();
  for (const r of base) if (!byHash.has(r.input_hash)) byHash.set(r.input_hash, r.id);
  // Identity of every merged answer: an export re-written with more lines (new generation) only adds the new ones,
  // and a line repeated inside one export counts once.
  const seenKeys = new Set<string>();
  for (const r of base) for (const a of r.answers) seenKeys.add(answerKey(r.id, a));
  const changed = new Set<string>();
  const added = new Set<string>();
  let answersMerged = 0;
  let duplicates = 0;
  const ledger = new VerdictLedger();
  for (const { lines } of read) {
    for (const p of lines) {
      const id = p.id ?? byHash.get(p.inputHash) ?? `input:${p.inputHash}`;
      const key = answerKey(id, p.answer);
      if (seenKeys.has(key)) {
        duplicates++;
        continue;
      }
      seenKeys.add(key);
      let row = rows.get(id);
      if (!row) {
        row = await newRow(id, p, project.task, version, itemsOf);
        row.input_hash = p.id !== null ? projectInputHash(project.name, id) : p.inputHash;
        rows.set(id, row);
        if (!byHash.has(row.input_hash)) byHash.set(row.input_hash, id);
        added.add(id);
      }
      if (row.task_hash === 0 && p.taskHash !== null) row.task_hash = p.taskHash;
      // Rows made from answers without options get them from the first answer that has them.
      if (row.options === undefined && Array.isArray(p.task.options)) row.options = p.task.options;
      ledger.note(row, p);
      row.answers = [...row.answers, p.answer];
      changed.add(id);
      answersMerged++;
    }
  }
  return { rows, changed, added, answersMerged, duplicates, ledger };
}

async function commitSnapshot(
  opts: MergeOptions,
  log: Logger,
  head: SnapshotManifest | null,
  read: ReadExport[],
  badLines: BadExportLine[],
  quarantined: QuarantinedExport[],
  itemsOf: (round: string) => Promise<Map<string, RoundItem> | null>,
): Promise<MergeResult | 'lost-race'> {
  const { store, project } = opts;
  const version = (head?.version ?? 0) + 1;
  const { rows, changed, added, answersMerged, duplicates, ledger } = await applyAnswers(opts, head, read, version, itemsOf);
  resolveChanged(rows, changed, project, version);
  const labelIssues = ledger.apply(rows, version);
  const all = [...rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const asOf = newestAnswerTime(all);
  const masks = project.task === 'image-segmentation' ? segmentationMasks(all, project.labels) : null;
  const rejects = [
    ...quarantined.map((q) => ({ object: q.name, line: 0, field: '(object)', reason: `export quarantined (generation ${q.generation}): ${q.reason}` })),
    ...badLines,
    ...(masks?.rejects ?? []),
  ];
  const { committed, manifest } = await writeSnapshot(store, {
    rows: all,
    formats: project.snapshot.formats,
    rejects: rejects.map((b) => `${JSON.stringify(b)}\n`).join(''),
    ...(masks ? { extraFiles: masks.files } : {}),
    manifest: {
      kind: 'reviewloop.snapshot',
      schemaVersion: 1,
      project: project.name,
      version,
      parent: head?.version ?? null,
      asOf,
      consumed: read.map((r) => r.obj),
      ...(quarantined.length > 0 ? { quarantined } : {}),
      counts: {
        items: all.length,
        labelled: all.filter((r) => r.status === 'labelled').length,
        changed: changed.size,
        added: added.size,
        answers: answersMerged,
        duplicates,
        badLines: badLines.length,
      },
      ...(masks ? { masks: masks.manifest } : {}),
      ...(labelIssues ? { labelIssues } : {}),
    },
  });
  if (!committed) return 'lost-race';
  await moveLatest(store, manifest);
  if (badLines.length > 0) {
    log.warn(`${badLines.length} export line(s) skipped; first: ${badLines[0].object} line ${badLines[0].line} ${badLines[0].field}: ${badLines[0].reason}`);
  }
  log.info(`snapshot v${version}: ${answersMerged} answer(s) from ${read.length} export(s), ${changed.size} item(s) changed, ${added.size} added`);
  if (labelIssues) {
    log.info(
      `snapshot v${version}: label-issue verdicts: ${labelIssues.changed} label(s) corrected, ${labelIssues.verified} verified, ${labelIssues.conflicts.length} conflict(s)`,
    );
    for (const c of labelIssues.conflicts.slice(0, 20)) log.warn(`snapshot v${version}: label-issue verdict on ${c.id} not applied: ${c.reason}`);
  }
  const conflicts = all.filter((r) => r.status === 'conflict').map((r) => r.id);
  if (conflicts.length > 0)
    log.warn(
      `snapshot v${version}: ${conflicts.length} item(s) in conflict under merge.conflict ${project.merge.conflict} (no label): ${conflicts.slice(0, 20).join(', ')}${conflicts.length > 20 ? ', …' : ''}`,
    );
  if (opts.sink) await writeMergeStats(store, opts.sink, project, manifest, all);
  return { status: 'created', version, manifest, badLines, quarantined };
}

/**
 * Answers in snapshot rows without `annotator_raw` carry Prodigy's
 * `<dataset>-<session>` as their annotator: give them the session name, as
 * every other answer gets, so one reviewer is one person in every table. Pure and
 * idempotent: a row read back from a newer snapshot is left as it is.
 */
function nameReviewers(row: SnapshotRow, known: readonly string[]): void {
  if (row.answers.every((a) => a.annotator_raw !== undefined)) return;
  row.answers = row.answers.map((a) =>
    a.annotator_raw !== undefined ? a : { ...a, annotator: annotatorName(a.annotator, known, null), annotator_raw: a.annotator },
  );
  row.annotators = [...new Set(row.answers.map((a) => a.annotator).filter((a): a is string => a !== null))].sort();
}

function resolveChanged(rows: Map<string, SnapshotRow>, changed: Set<string>, project: ProjectConfig, version: number): void {
  const singleLabel = project.task !== 'textcat-multilabel';
  for (const id of changed) {
    const row = rows.get(id)!;
    Object.assign(row, resolveAnswers(row.answers, project.merge.conflict, singleLabel));
    row.annotators = [...new Set(row.answers.map((a) => a.annotator).filter((a): a is string => a !== null))].sort();
    const times = row.answers.map((a) => a.timestamp).filter((t): t is number => t !== null);
    row.answered_at = times.length > 0 ? Math.max(...times) : null;
    row.version = version;
  }
}

/** The newest answer time as ISO text; a time no Date can hold (only in snapshots older than the timestamp check) is left out. */
function newestAnswerTime(all: SnapshotRow[]): string | null {
  let newest: number | null = null;
  for (const r of all) {
    if (r.answered_at !== null && timestampProblem(r.answered_at) === null && (newest === null || r.answered_at > newest)) newest = r.answered_at;
  }
  return newest === null ? null : new Date(newest * 1000).toISOString();
}

async function newRow(
  id: string,
  p: ParsedExportLine,
  task: TaskType,
  version: number,
  itemsOf: (round: string) => Promise<Map<string, RoundItem> | null>,
): Promise<SnapshotRow> {
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
  // A choice task's options travel with the row, so `prodigy db-in` then `prodigy train` read it as Prodigy wrote it.
  if (Array.isArray(t.options)) row.options = t.options;
  const meta = (t.meta && typeof t.meta === 'object' ? t.meta : {}) as Record<string, unknown>;
  const round = typeof meta.round === 'string' ? meta.round : null;
  const item = round !== null && p.id !== null ? ((await itemsOf(round))?.get(p.id) ?? null) : null;
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
