/**
 * Shared pieces of the reliability campaigns: seeded randomness, the CLI as a
 * child process, a fixture project on a local root, and the figures each
 * campaign prints (and, under `npm run chaos`, writes as JSON for the summary).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { INTENT_LABELS, intentBatch, rng } from '../../../worker/demo/data.js';
import { reviewChoice } from '../../../worker/demo/reviewer.js';
import { LocalStore } from '../../../worker/store/local-store.js';
import type { ObjectStore } from '../../../worker/store/store.js';

export { rng };

export const REPO = path.resolve(__dirname, '../../..');
export const CLI = path.join(REPO, 'bin/reviewloop.js');
export const PROJECT = 'intents';

/** What one campaign tried and what held; printed and collected by scripts/chaos.mjs. */
export interface Figures {
  campaign: string;
  seed: number;
  /** Cases tried, by kind (kills, requests, fuzz runs …). */
  tried: Record<string, number>;
  /** Invariants checked, each with how many times it was checked. */
  held: Record<string, number>;
  /** Invariant breaches; a campaign passes only when this is empty. */
  violations: string[];
  /** Anything else worth printing (timings, bounds, RSS). */
  notes: Record<string, number | string>;
  elapsedMs: number;
}

export function newFigures(campaign: string, seed: number): Figures {
  return { campaign, seed, tried: {}, held: {}, violations: [], notes: {}, elapsedMs: 0 };
}

export function bump(rec: Record<string, number>, key: string, n = 1): void {
  rec[key] = (rec[key] ?? 0) + n;
}

/** Records one invariant check: counts it, and keeps the breach (at most 50 messages) when it failed. */
export function check(fig: Figures, invariant: string, ok: boolean, detail: () => string): boolean {
  bump(fig.held, invariant, ok ? 1 : 0);
  if (!ok && fig.violations.length < 50) fig.violations.push(`${invariant}: ${detail()}`);
  return ok;
}

/** Prints the figures; under `npm run chaos` (RL_CHAOS_OUT set) also writes them as JSON. */
export function report(fig: Figures): void {
  const lines = [`[${fig.campaign}] seed ${fig.seed}, ${(fig.elapsedMs / 1000).toFixed(1)} s`];
  lines.push(
    `  tried: ${Object.entries(fig.tried)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
  lines.push(
    `  held:  ${Object.entries(fig.held)
      .map(([k, v]) => `${k}×${v}`)
      .join(', ')}`,
  );
  if (Object.keys(fig.notes).length > 0)
    lines.push(
      `  notes: ${Object.entries(fig.notes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  lines.push(fig.violations.length === 0 ? '  violations: none' : `  VIOLATIONS (${fig.violations.length}):\n    ${fig.violations.join('\n    ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const out = process.env.RL_CHAOS_OUT;
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, `${fig.campaign}.json`), `${JSON.stringify(fig, null, 2)}\n`);
  }
}

/** A count from the environment (set by scripts/chaos.mjs), else the fast default used by `npm test`. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name}=${raw}: expected a non-negative number`);
  return n;
}

export const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  stdout: string;
  stderr: string;
  /** True when our SIGKILL ended it (it had not exited by itself yet). */
  killed: boolean;
}

/** Runs `node bin/reviewloop.js …`; SIGKILLs it after `killAfterMs` or when `killOn` resolves, unless it has already exited. */
export function runCli(args: string[], opts: { killAfterMs?: number; killOn?: Promise<unknown>; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', REVIEWLOOP_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    const timer = opts.killAfterMs === undefined ? null : setTimeout(kill, opts.killAfterMs);
    opts.killOn?.then(kill, () => undefined);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, ms: Date.now() - started, stdout, stderr, killed: killed && signal === 'SIGKILL' });
    });
  });
}

/** Options of the fixture project the CLI campaigns run. */
export interface FixtureOptions {
  /** Prediction records per batch. */
  records: number;
  /** Files per batch. */
  files: number;
  topK: number;
  threads: number;
  /** worker.chunkBytes (the schema's minimum is 64 KiB). */
  chunkBytes: number;
  /** Snapshot formats: parquet makes merges longer (more kill points inside them). */
  formats: Array<'arrow' | 'jsonl' | 'parquet'>;
}

export const DEFAULT_FIXTURE: FixtureOptions = {
  records: 6000,
  files: 3,
  topK: 300,
  threads: 2,
  chunkBytes: 64 * 1024,
  formats: ['arrow', 'jsonl', 'parquet'],
};

/** Writes `dir/reviewloop.json` (JSON is YAML) for a local root at `dir/root`; returns its path. */
export async function writeFixtureConfig(dir: string, fx: FixtureOptions): Promise<string> {
  const config = {
    storage: { root: path.join(dir, 'root') },
    stats: { sink: 'none' },
    worker: { threads: fx.threads, chunkBytes: fx.chunkBytes, httpPort: 0 },
    projects: [
      {
        name: PROJECT,
        task: 'textcat',
        labels: [...INTENT_LABELS],
        strategy: { name: 'entropy', topK: fx.topK, auditFraction: 0.1, seed: 7 },
        queue: { annotators: ['ann', 'bob'], overlap: 2 },
        merge: { conflict: 'majority' },
        snapshot: { formats: fx.formats },
      },
    ],
  };
  await fs.mkdir(path.join(dir, 'root'), { recursive: true });
  const file = path.join(dir, 'reviewloop.json');
  await fs.writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

export const projectDir = (dir: string) => path.join(dir, 'root', PROJECT);
export const projectLocalStore = (dir: string): ObjectStore => new LocalStore(projectDir(dir));

/**
 * Writes a file the way an outside producer would (a model pipeline, `prodigy
 * db-out`), with a fixed whole-second mtime: LocalStore generations are mtimes
 * in ns, so two roots staged alike get identical generations in manifests.
 */
export async function placeFile(dir: string, name: string, body: Buffer | string, mtimeSec: number): Promise<void> {
  const p = path.join(projectDir(dir), ...name.split('/'));
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, body);
  await fs.utimes(p, mtimeSec, mtimeSec);
}

/** Stages prediction batch `i` (gzip and plain files alike, one malformed line); returns gold labels. */
export async function stagePredictions(dir: string, i: number, fx: FixtureOptions): Promise<Map<string, string>> {
  const batch = intentBatch({ seed: 100 + i, n: fx.records, model: `m${i}`, idPrefix: `b${i}`, labelShift: 0.1 * i, sharpness: 2.5 });
  const per = Math.ceil(batch.length / fx.files);
  for (let f = 0; f < fx.files; f++) {
    const lines = batch.slice(f * per, (f + 1) * per).map((g) => JSON.stringify(g.record));
    if (f === 0) lines.push('{"id": "broken"');
    const text = `${lines.join('\n')}\n`;
    const gz = f % 2 === 1;
    await placeFile(dir, `predictions/b${i}/part-${f}.jsonl${gz ? '.gz' : ''}`, gz ? gzipSync(Buffer.from(text)) : text, 1_800_000_000 + i * 100 + f);
  }
  return new Map(batch.map((g) => [g.id, g.gold]));
}

/** Simulated reviewers' db-out files for one round, derived only from its per-annotator queues. */
export async function exportsFor(store: ObjectStore, roundId: string, gold: Map<string, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [k, name] of ['ann', 'bob'].entries()) {
    const queue = (await store.read(`rounds/${roundId}/queue-${name}.jsonl`))
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    out.set(
      `annotations/${roundId}/${name}.jsonl`,
      reviewChoice(queue, gold, {
        dataset: PROJECT,
        annotator: { name, errorRate: 0.1 * (k + 1), ignoreRate: 0.05, paceSeconds: 10 },
        startAt: 1_800_000_000 + k,
        labels: INTENT_LABELS,
        seed: k,
      }),
    );
  }
  return out;
}

/** name → sha256 of every object a reader can list. */
export async function digestStore(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const o of store.list('')) out.set(o.name, sha(await store.read(o.name)));
  return out;
}

/** Names whose digests differ between two dumps (missing on either side included), at most `max`. */
export function diffDigests(want: Map<string, string>, got: Map<string, string>, max = 5): string[] {
  const out: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) out.push(got.has(k) ? `${k} differs` : `${k} missing`);
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k} unexpected`);
  return out.slice(0, max);
}

export const jsonl = (b: Buffer | string) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
