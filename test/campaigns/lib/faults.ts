/**
 * Storage fault campaign: the standard loop (two rounds, two merges) on a
 * gs:// root behind a fault-injecting proxy in front of fake-gcs-server.
 * 1. Faults on a share of requests: the loop completes with the same outputs
 *    as a fault-free run on the same root.
 * 2. An outage (faults on every request) starting at a seeded point: the loop
 *    fails with a typed error and readers see nothing half-written; once the
 *    outage ends, a rerun completes with the same outputs.
 */
import { GcsStore } from '../../../worker/store/gcs-store.js';
import { isReviewloopError } from '../../../domain/errors.js';
import { projectStore } from '../../../worker/store/open-store.js';
import { ScoringPool } from '../../../worker/pool/pool.js';
import type { RetryOptions } from '../../../worker/core/retry.js';
import { startFaultProxy, type Fault } from '../../helpers/fault-proxy.js';
import { makeTestBucket } from '../../helpers/gcs.js';
import { gcsEndpoint } from '../../helpers/emulators.js';
import { dump, loopConfig, runStandardLoop } from '../../helpers/loop.js';
import { bump, check, newFigures, rng, sha, type Figures } from './common.js';
import { checkCommitted, checkExportLines, checkQueues } from './invariants.js';

/** Options for {@link runFaultCampaign}. */
export interface FaultOptions {
  /** Share of requests that get a fault in the degraded runs (0…1). */
  faultRate: number;
  /** Degraded full-loop runs. Default 1. */
  runs?: number;
  /** Outage runs (faults on every request from a seeded point on). Default 2. */
  outages?: number;
  seed: number;
  /** How long a stalled request is held, in ms. Default 300. */
  stallMs?: number;
  /** Request counts at which outages start, to replay a reported case; default: seeded. */
  outageAt?: number[];
  /** The store's retry budget. Default: 8 attempts, 5…80 ms backoff. */
  retry?: Omit<RetryOptions, 'onRetry'>;
}

const KINDS: Fault[] = ['unavailable', 'throttled', 'reset', 'stall', 'stall-reset', 'drop-response'];
/** A stall that ends in a forward is no outage. */
const OUTAGE_KINDS = KINDS.filter((k) => k !== 'stall');
const ROOT_PREFIX = 'loop';

/**
 * What may differ between two runs on the same root URI: generations (and the
 * update times derived from them) and manifest hashes that cover generations.
 * Snapshot hashes are checked for consistency separately (checkCommitted).
 */
export function maskRun(files: Map<string, Buffer>): Map<string, string> {
  const out = new Map<string, string>();
  const mask = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(mask);
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ['generation', 'updatedMax', 'sha256'].includes(k) ? `<${k}>` : mask(x)]));
    return v;
  };
  for (const [name, body] of files) {
    // A round's claim is named by a hash of the claimed generation: key it by the claimed object instead.
    if (name.startsWith('state/claims/objects/')) {
      const claim = JSON.parse(body.toString()) as { name: string };
      out.set(`state/claims/objects/<${claim.name}>`, sha(JSON.stringify(mask(claim))));
      continue;
    }
    out.set(name, /(^|\/)(plan|manifest|LATEST)\.json$/.test(name) ? sha(JSON.stringify(mask(JSON.parse(body.toString())))) : sha(body));
  }
  return out;
}

function differences(want: Map<string, string>, got: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of want) if (got.get(k) !== v) out.push(got.has(k) ? `${k} differs` : `${k} missing`);
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k} unexpected`);
  return out;
}

export async function runFaultCampaign(opts: FaultOptions): Promise<Figures> {
  const started = Date.now();
  const fig = newFigures('storage-faults', opts.seed);
  const random = rng(opts.seed);
  const retry = opts.retry ?? { maxAttempts: 8, baseDelayMs: 5, maxDelayMs: 80, budgetMs: 30_000 };
  fig.notes.retryBudget = `${retry.maxAttempts} attempts, ${retry.baseDelayMs}-${retry.maxDelayMs} ms backoff`;
  fig.notes.faultRate = opts.faultRate;
  const bucket = await makeTestBucket('chaos-faults');
  const pool = new ScoringPool({ threads: 2 });
  // mode decides per request: 'off' passes everything, 'rate' faults a share, 'outage' faults all after `outageAfter` requests.
  let mode: 'off' | 'rate' | 'outage' = 'off';
  let requests = 0;
  let outageAfter = 0;
  const pick = (kinds: Fault[]) => kinds[Math.floor(random() * kinds.length)];
  const proxy = await startFaultProxy(
    gcsEndpoint(),
    (method, url) => {
      requests++;
      let fault: Fault = 'pass';
      if (mode === 'rate' && random() < opts.faultRate) fault = pick(KINDS);
      if (mode === 'outage' && requests > outageAfter) fault = pick(OUTAGE_KINDS);
      if (fault !== 'pass') bump(fig.tried, `${mode === 'rate' ? 'faults' : 'outageFaults'}.${fault}`);
      if (mode !== 'off') bump(fig.tried, mode === 'rate' ? 'requests' : 'outageRequests');
      if (process.env.RL_CHAOS_TRACE) process.stderr.write(`${mode} ${fault} ${method} ${url.slice(0, 160)}\n`);
      return fault;
    },
    { stallMs: opts.stallMs ?? 300 },
  );
  const root = `gs://${bucket.name}/${ROOT_PREFIX}`;
  const config = loopConfig(root);
  let retries = 0;
  const store = new GcsStore(root, {
    apiEndpoint: proxy.endpoint,
    retry,
    onRetry: () => {
      retries++;
    },
  });
  const project = projectStore(store, config.projects[0].name);
  const wipe = async () => {
    const [files] = await bucket.storage.bucket(bucket.name).getFiles();
    await Promise.all(files.map((f) => f.delete({ ignoreNotFound: true })));
  };
  /**
   * After an outage the rerun replays the loop from its start: a merge can then run before the second
   * reviewer's export exists and split that round's answers over two snapshots. Snapshot grouping is
   * then free; that every export line lands in exactly one snapshot is checked below either way.
   */
  const verifyComplete = async (label: string, want: Map<string, string>, regroup = false) => {
    const keep = (m: Map<string, string>) => (regroup ? new Map([...m].filter(([k]) => !k.startsWith('snapshots/'))) : m);
    const got = maskRun(await dump(project));
    const diff = differences(keep(want), keep(got));
    check(
      fig,
      regroup ? 'rounds and exports identical to the fault-free run' : 'outputs identical to the fault-free run',
      diff.length === 0,
      () => `${label}: ${diff.slice(0, 5).join(', ')}`,
    );
    if (regroup && [...got.keys()].filter((k) => k.startsWith('snapshots/v')).length !== [...want.keys()].filter((k) => k.startsWith('snapshots/v')).length)
      bump(fig.tried, 'outageRerunsRegroupingSnapshots');
    await checkCommitted(fig, project);
    for (const r of ['20261101T0200Z', '20261108T0200Z']) await checkQueues(fig, project, r);
    const exported = new Map<string, string>();
    for await (const o of project.list('annotations/')) exported.set(o.name, (await project.read(o.name)).toString());
    await checkExportLines(fig, project, exported);
  };
  try {
    const clean = maskRun((await runStandardLoop(store, config, { pool })).files);
    fig.notes.cleanRunRequests = requests;
    const cleanRequests = proxy.log.length;
    await wipe();

    for (let run = 0; run < (opts.runs ?? 1); run++) {
      mode = 'rate';
      const before = { retries, faults: totalFaults(fig) };
      try {
        await runStandardLoop(store, config, { pool });
        bump(fig.tried, 'degradedRuns');
        check(fig, 'degraded run completes', true, () => '');
        fig.notes.faultsSurvived = Number(fig.notes.faultsSurvived ?? 0) + totalFaults(fig) - before.faults;
      } catch (err) {
        check(fig, 'degraded run completes', false, () => `run ${run}: ${(err as Error).message}`);
      } finally {
        mode = 'off';
      }
      fig.notes.retriesInDegradedRuns = Number(fig.notes.retriesInDegradedRuns ?? 0) + retries - before.retries;
      await verifyComplete(`degraded run ${run}`, clean);
      await wipe();
    }

    for (let o = 0; o < (opts.outages ?? 2); o++) {
      // The outage starts somewhere inside the loop (by request count) and outlasts the retry budget.
      outageAfter = opts.outageAt?.[o] ?? (o === 0 ? 0 : Math.floor(random() * cleanRequests));
      requests = 0;
      mode = 'outage';
      let failure: unknown = null;
      try {
        await runStandardLoop(store, config, { pool });
      } catch (err) {
        failure = err;
      } finally {
        mode = 'off';
      }
      bump(fig.tried, 'outages');
      const typed =
        isReviewloopError(failure) &&
        ['TRANSIENT', 'STORE_UNAVAILABLE', 'CONFLICT', 'NOT_FOUND'].includes(failure.code) &&
        /gs:\/\/|object|GCS/.test(failure.message);
      if (process.env.RL_CHAOS_TRACE) process.stderr.write(`outage ${o} after ${outageAfter}: ${String((failure as Error)?.stack ?? failure).slice(0, 600)}\n`);
      check(
        fig,
        'an outage fails with a typed error naming the object',
        typed,
        () => `outage after ${outageAfter} requests: ${failure === null ? 'no error' : String((failure as Error).stack ?? failure).slice(0, 400)}`,
      );
      if (failure !== null) bump(fig.notes as Record<string, number>, `outageError.${isReviewloopError(failure) ? failure.code : 'untyped'}`);
      await checkCommitted(fig, project);
      await runStandardLoop(store, config, { pool });
      bump(fig.tried, 'rerunsAfterOutage');
      await verifyComplete(`outage ${o} (after ${outageAfter} requests)`, clean, true);
      await wipe();
    }
  } finally {
    await proxy.close();
    await pool.close();
    await bucket.cleanup();
  }
  fig.elapsedMs = Date.now() - started;
  return fig;
}

function totalFaults(fig: Figures): number {
  return Object.entries(fig.tried)
    .filter(([k]) => k.startsWith('faults.'))
    .reduce((a, [, v]) => a + v, 0);
}
