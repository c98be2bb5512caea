/**
 * Liveness campaign: seeded poison prediction objects and reviewers' exports,
 * mixed with good ones, across several rounds and merges run by the CLI as a
 * user runs it. Every run must exit 0 within its time bound; every good
 * record is counted and every good answer lands within the run that sees it;
 * every bad object, file or line is listed with a reason; nothing poison is
 * labelled; and the next iteration's good data flows as if nothing happened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { GoldRecord } from '../../../worker/demo/data.js';
import type { RoundManifest } from '../../../domain/records.js';
import type { ObjectStore } from '../../../worker/store/store.js';
import { readJson } from '../../../worker/store/write-once.js';
import { bump, check, jsonl, newFigures, placeFile, projectLocalStore, rng, runCli, writeFixtureConfig, type CliRun, type Figures } from './common.js';
import {
  LINE_POISON,
  PREDICTION_POISON,
  batchOf,
  describeLines,
  goodObject,
  poisonLine,
  poisonObject,
  reviewerLines,
  type ExportLine,
  type LinePoison,
  type StagedExport,
  type StagedObject,
} from './liveness-inputs.js';
import { checkMerge, checkStatus } from './liveness-merge.js';

/** Options for {@link runLivenessCampaign}. */
export interface LivenessOptions {
  /** Round + merge iterations. */
  iterations: number;
  seed: number;
  /** Wall-clock bound of one CLI run, in ms: past it the run is killed and counted as a violation. Default 60 s. */
  boundMs?: number;
  /** Good records per good object. Default 300. */
  records?: number;
  log?: (line: string) => void;
}

/** What the campaign must find at the end of every run; `good` answers accumulate across iterations. */
export interface Expectations {
  goodAnswers: Map<string, Array<ExportLine & { file: string; mistyped: boolean }>>;
  /** Every prediction object and export staged so far. */
  objects: StagedObject[];
  exports: StagedExport[];
}

const roundIdOf = (it: number) => {
  const d = new Date(Date.UTC(2026, 10, 1 + it, 2));
  return `${d.toISOString().slice(0, 10).replace(/-/g, '')}T0200Z`;
};

/** Runs one CLI step under the campaign's wall-clock bound; records its exit code and time. */
async function timedRun(fig: Figures, args: string[], boundMs: number, what: string): Promise<CliRun | null> {
  const r = await runCli(args, { killAfterMs: boundMs });
  const step = args[0];
  bump(fig.tried, `runs.${step}`);
  bump(fig.tried, `exit.${step}.${r.killed ? 'killedAtBound' : String(r.code)}`);
  fig.notes[`maxMs.${step}`] = Math.max(Number(fig.notes[`maxMs.${step}`] ?? 0), r.ms);
  check(fig, 'a run finishes within its bound', !r.killed, () => `${what}: killed after ${r.ms} ms (bound ${boundMs} ms)`);
  check(fig, 'no run exits 70', r.code !== 70, () => `${what}: exit 70: ${r.stderr.slice(-600)}`);
  return check(fig, 'every run exits 0', r.code === 0, () => `${what}: exit ${r.code}: ${r.stderr.slice(-600)}`) ? r : null;
}

/** Stages good objects and poison ones (a seeded pick, rotating so every kind is tried) for iteration `it`. */
async function stagePredictions(
  dir: string,
  it: number,
  random: () => number,
  gold: Map<string, string>,
  records: number,
  earlier: StagedObject[],
): Promise<StagedObject[]> {
  const out: StagedObject[] = [];
  const folder = `predictions/it${String(it).padStart(3, '0')}`;
  const goods = 2 + Math.floor(random() * 2);
  for (let k = 0; k < goods; k++) {
    const batch = batchOf(1000 + it * 10 + k, records, `i${it}g${k}`, 'm1');
    const gz = random() < 0.5;
    out.push(goodObject(`${folder}/part-${k}.jsonl${gz ? '.gz' : ''}`, batch, gz));
    remember(gold, batch);
  }
  // Two poison objects per iteration, rotating through the catalogue (4 iterations try every kind), a third one seeded.
  const poisons = random() < 0.3 ? 3 : 2;
  for (let j = 0; j < poisons; j++) {
    const kind = j < 2 ? PREDICTION_POISON[(it * 2 + j) % PREDICTION_POISON.length] : PREDICTION_POISON[Math.floor(random() * PREDICTION_POISON.length)];
    const batch = batchOf(5000 + it * 10 + j, 40 + Math.floor(random() * 80), `i${it}p${j}`, 'm1');
    remember(gold, batch);
    out.push(await poisonObject(kind, `${folder}/x-${j}-${kind}`, batch, random));
  }
  // The producer fixes a quarantined object and uploads it again: the new generation is read like any new object.
  const fixable = earlier.filter((o) => o.mustQuarantine && /\.jsonl(\.gz)?$/.test(o.name));
  if (fixable.length > 0 && random() < 0.5) {
    const name = fixable[Math.floor(random() * fixable.length)].name;
    const batch = batchOf(9000 + it, 30, `i${it}r`, 'm1');
    remember(gold, batch);
    out.push({ ...goodObject(name, batch, name.endsWith('.gz')), kind: 'newGeneration' });
  }
  for (const [k, o] of out.entries()) await placeFile(dir, o.name, o.body, 1_800_000_000 + it * 1000 + k);
  return out;
}

function remember(gold: Map<string, string>, batch: GoldRecord[]): void {
  for (const g of batch) gold.set(g.id, g.gold);
}

/**
 * The round's exact accounting. Records read = scored + rejected + skipped;
 * with fresh ids nothing is skipped, so scored = the valid records of every
 * object before its break (all of them for an object read to its end); every
 * staged object is consumed; rejects.jsonl = rejected + duplicates + one line
 * per quarantined object.
 */
async function checkRound(fig: Figures, store: ObjectStore, roundId: string, staged: StagedObject[]): Promise<void> {
  const m = await readJson<RoundManifest>(store, `rounds/${roundId}/manifest.json`);
  if (!check(fig, 'the round is committed', m !== null, () => `${roundId}: no manifest`)) return;
  const rejects = jsonl(await store.read(m!.files.rejects));
  const quarantined = new Map((m!.quarantined ?? []).map((q) => [q.name, q]));
  const consumed = new Set(m!.consumed.map((c) => c.name));
  let scored = 0;
  for (const o of staged) {
    const uri = store.uri(o.name);
    const q = quarantined.get(o.name);
    if (o.kind !== 'good') bump(fig.tried, o.kind === 'newGeneration' ? 'rewritten.predictionObject' : `poisonObject.${o.kind}`);
    check(fig, 'every staged object is consumed (never read again)', consumed.has(o.name), () => `${roundId}: ${o.name} (${o.kind}) not consumed`);
    if (o.mustQuarantine) {
      const line = q && rejects.find((r) => r.object === uri && r.code === q.code && r.line === q.line && typeof r.reason === 'string');
      check(
        fig,
        'an unreadable object is quarantined, with code and reason in the manifest and rejects.jsonl',
        q !== undefined && line !== undefined,
        () => `${roundId}: ${o.name} (${o.kind}): ${q ? `quarantined ${q.code} but no reject line` : 'not quarantined'}`,
      );
    } else {
      check(fig, 'a readable object is never quarantined', q === undefined, () => `${roundId}: ${o.name} (${o.kind}) quarantined: ${q?.code} ${q?.reason}`);
    }
    const breakAt = q?.line ?? Number.POSITIVE_INFINITY;
    scored += o.valid.filter((v) => v.line < breakAt).length;
    for (const l of o.badLines.filter((b) => b < breakAt)) {
      const hit = rejects.some((r) => r.object === uri && r.line === l && r.code === undefined && typeof r.reason === 'string' && r.reason.length > 0);
      check(fig, 'every bad line is a reject line naming its object and line', hit, () => `${roundId}: ${o.name} line ${l} (${o.kind}) not in rejects.jsonl`);
    }
  }
  const c = m!.counts;
  check(
    fig,
    "counts.scored = valid records before each object's break; skipped = 0",
    c.scored === scored && c.skipped === 0,
    () => `${roundId}: scored ${c.scored} skipped ${c.skipped}, expected scored ${scored}`,
  );
  check(fig, 'counts.read = scored + rejected + skipped', c.read === c.scored + c.rejected + c.skipped, () => `${roundId}: ${JSON.stringify(c)}`);
  check(
    fig,
    'rejects.jsonl lines = rejected + duplicates + quarantined objects',
    rejects.length === c.rejected + (c.duplicates ?? 0) + (c.quarantinedObjects ?? 0) && (c.quarantinedObjects ?? 0) === quarantined.size,
    () => `${roundId}: ${rejects.length} lines, counts ${JSON.stringify(c)}, ${quarantined.size} quarantined`,
  );
  bump(
    fig.tried,
    'goodRecordsStaged',
    staged.filter((o) => o.kind === 'good').reduce((n, o) => n + o.valid.length, 0),
  );
  // Good data flows past the poison: the queue is full, and holds only records that were read.
  const readIds = new Set(staged.flatMap((o) => o.valid.filter((v) => v.line < (quarantined.get(o.name)?.line ?? Number.POSITIVE_INFINITY)).map((v) => v.id)));
  const queued = jsonl(await store.read(m!.files.queue[0])).map((t) => t.meta.id as string);
  check(
    fig,
    'the queue is filled from the records read, each once',
    queued.length === c.queued && c.queued >= Math.min(40, scored) && queued.every((id) => readIds.has(id)) && new Set(queued).size === queued.length,
    () => `${roundId}: ${queued.length} queued (counts ${c.queued}, scored ${scored}), ${queued.filter((id) => !readIds.has(id)).length} not read`,
  );
}

/** Folder names an operator might type for `roundId`: one sorts before every real round, one after. */
function mistyped(roundId: string, random: () => number): string {
  return random() < 0.5 ? `${Number(roundId.slice(0, 4)) - 1}${roundId.slice(4)}` : roundId.replace('T', 't');
}

/** Reviewers' exports for the round's queues, with poison files and lines mixed in. */
async function stageExports(
  dir: string,
  store: ObjectStore,
  roundId: string,
  it: number,
  random: () => number,
  gold: Map<string, string>,
  earlier: StagedExport[],
): Promise<StagedExport[]> {
  const tasks = async (who: string) =>
    jsonl(await store.read(`rounds/${roundId}/queue-${who}.jsonl`)) as Array<Record<string, unknown> & { meta: { id: string } }>;
  const ann = await tasks('ann');
  const bob = await tasks('bob');
  const t0 = 1_800_000_000 + it * 100_000;
  const out: StagedExport[] = [];
  const good = (name: string, lines: string[], kind: StagedExport['kind'] = 'good', gz = false): StagedExport => {
    const text = Buffer.from(`${lines.join('\n')}\n`);
    return { name, body: gz ? gzipSync(text) : text, lines: describeLines(lines), mustQuarantine: false, kind };
  };
  const annGz = random() < 0.5;
  out.push(good(`annotations/${roundId}/ann.jsonl${annGz ? '.gz' : ''}`, reviewerLines(ann, gold, 'ann', t0, it * 10 + 1, 0.1), 'good', annGz));
  const bobLines = reviewerLines(bob, gold, 'bob', t0 + 7, it * 10 + 2, 0.2);
  const typo = it % 2 === 1;
  out.push(good(`annotations/${typo ? mistyped(roundId, random) : roundId}/bob.jsonl`, bobLines, typo ? 'mistypedRoundFolder' : 'good'));
  // A third reviewer's file: good lines with poison lines among them.
  const catGood = reviewerLines(ann.slice(0, 12), gold, 'cat', t0 + 13, it * 10 + 3, 0.1);
  const poison = new Map<number, LinePoison>();
  const n = 1 + Math.floor(random() * 3);
  for (let j = 0; j < n; j++) poison.set(Math.floor(random() * catGood.length), LINE_POISON[(it + j) % LINE_POISON.length]);
  const catText = catGood.map((l, i) => {
    const kind = poison.get(i);
    return kind === undefined ? l : poisonLine(kind, l);
  });
  out.push({
    name: `annotations/${roundId}/cat.jsonl`,
    body: Buffer.from(`${catText.join('\n')}\n`),
    lines: describeLines(catGood, poison),
    mustQuarantine: false,
    kind: 'good',
  });
  if (it % 2 === 0) {
    const lines = reviewerLines(bob, gold, 'dan', t0 + 17, it * 10 + 4, 0.1);
    const gz = gzipSync(Buffer.from(`${lines.join('\n')}\n`));
    const body = gz.subarray(0, Math.floor(gz.length * (0.2 + 0.6 * random())));
    out.push({ name: `annotations/${roundId}/dan.jsonl.gz`, body, lines: [], mustQuarantine: true, kind: 'truncatedGzExport', complete: lines });
  }
  // The reviewer uploads a quarantined export again, whole: the new generation is merged like any new export.
  const fixable = earlier.filter((e) => e.complete !== undefined);
  if (fixable.length > 0 && random() < 0.5) {
    const e = fixable[Math.floor(random() * fixable.length)];
    out.push(good(e.name, e.complete!, 'newGeneration', true));
  }
  for (const [k, e] of out.entries()) await placeFile(dir, e.name, e.body, 1_800_500_000 + it * 1000 + k);
  return out;
}

export async function runLivenessCampaign(opts: LivenessOptions): Promise<Figures> {
  const started = Date.now();
  const fig = newFigures('liveness', opts.seed);
  const boundMs = opts.boundMs ?? 60_000;
  const log = opts.log ?? (() => undefined);
  const random = rng(opts.seed);
  const dir = mkdtempSync(path.join(tmpdir(), 'rl-liveness-'));
  fig.notes.boundMs = boundMs;
  try {
    const config = await writeFixtureConfig(dir, { records: 0, files: 0, topK: 40, threads: 2, chunkBytes: 64 * 1024, formats: ['jsonl'] });
    const store = projectLocalStore(dir);
    const gold = new Map<string, string>();
    const expect: Expectations = { goodAnswers: new Map(), objects: [], exports: [] };
    for (let it = 0; it < opts.iterations; it++) {
      const roundId = roundIdOf(it);
      const staged = await stagePredictions(dir, it, random, gold, opts.records ?? 300, expect.objects);
      if (await timedRun(fig, ['round', '-c', config, '--round', roundId], boundMs, `round ${roundId}`)) await checkRound(fig, store, roundId, staged);
      else continue;
      expect.objects.push(...staged);
      const exports = await stageExports(dir, store, roundId, it, random, gold, expect.exports);
      expect.exports.push(...exports);
      const merged = await timedRun(fig, ['merge', '-c', config], boundMs, `merge after ${roundId}`);
      if (merged) await checkMerge(fig, store, exports, expect, it);
      const status = await timedRun(fig, ['status', '-c', config, '--json'], boundMs, `status after ${roundId}`);
      if (status) checkStatus(fig, store, JSON.parse(status.stdout), expect, roundId);
      fig.tried.iterations = it + 1;
      if ((it + 1) % 10 === 0)
        log(`iteration ${it + 1} of ${opts.iterations} done (${((Date.now() - started) / 1000).toFixed(0)} s), ${fig.violations.length} violation(s) so far`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  fig.elapsedMs = Date.now() - started;
  return fig;
}
