/**
 * BigQuery sink against the goccy bigquery-emulator that `npm test` starts
 * (RL_BQ_ENDPOINT, RL_BQ_PROJECT). Nothing here may reach Google: the client
 * gets a static dummy token and metadata-server detection is off.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BigQuery } from '@google-cloud/bigquery';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBigQuerySink, loadJobId } from '../../worker/stats/sinks/bigquery-sink.js';
import { mergeBatchId, mergeRows, roundBatchId, roundRows } from '../../domain/quality/compute.js';
import { openDuckdbSink } from '../../worker/stats/sinks/duckdb-sink.js';
import { loadReportData } from '../../worker/stats/report.js';
import type { StatsSink } from '../../worker/stats/sinks/sink.js';
import type { Rows } from '../../domain/quality/tables.js';
import { MERGES, ROUNDS } from '../fixtures/stats-sample.js';

process.env.METADATA_SERVER_DETECTION = 'none';
const endpoint = process.env.RL_BQ_ENDPOINT;
const projectId = process.env.RL_BQ_PROJECT;
if (!endpoint || !projectId) {
  throw new Error('RL_BQ_ENDPOINT and RL_BQ_PROJECT are not set: run the tests with `npm test`, which builds and starts the BigQuery emulator');
}
if (new URL(endpoint).hostname !== '127.0.0.1') throw new Error(`RL_BQ_ENDPOINT must point at 127.0.0.1, got ${endpoint}`);

const datasets: string[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'rl-bq-'));

function rawClient(): BigQuery {
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 3600_000 });
  return new BigQuery({ projectId, apiEndpoint: endpoint, authClient: auth });
}

function datasetName(tag: string): string {
  const name = `rl_test_${tag}_${process.pid}_${Date.now().toString(36)}`;
  datasets.push(name);
  return name;
}

const batches: Array<[string, Rows]> = [
  [roundBatchId('support-intents', ROUNDS[0].round), roundRows(ROUNDS[0], null, null)],
  [roundBatchId('support-intents', ROUNDS[1].round), roundRows(ROUNDS[1], ROUNDS[0], ROUNDS[0])],
  [roundBatchId('support-intents', ROUNDS[2].round), roundRows(ROUNDS[2], ROUNDS[1], ROUNDS[0])],
  ...MERGES.map((m): [string, Rows] => [mergeBatchId(m.project, m.version), mergeRows(m)]),
];

/** Queries compared between the two sinks; ORDER BY makes the results comparable. */
const QUERIES: Array<[string, string]> = [
  [
    'rounds',
    'SELECT round_id, event_time, items_scored, items_queued, mean_confidence, score_p10, score_p50, score_p90 FROM rounds WHERE project = @project ORDER BY event_time',
  ],
  [
    'histograms',
    "SELECT round_id, bin_index, bin_lower, n FROM round_histograms WHERE project = @project AND histogram = 'confidence' ORDER BY round_id, bin_index",
  ],
  ['labels', 'SELECT round_id, label, n, share FROM round_labels WHERE project = @project ORDER BY round_id, label'],
  [
    'drift view',
    'SELECT round_id, baseline, baseline_round_id, psi_confidence, psi_band, js_labels, mean_entropy_delta FROM v_drift_trend WHERE project = @project ORDER BY round_id, baseline',
  ],
  [
    'f1 view',
    'SELECT snapshot_version, slice, weighted, label, items, support, precision_score, recall_score, f1_score FROM v_label_f1_trend WHERE project = @project ORDER BY snapshot_version, slice, label',
  ],
  [
    'quality',
    "SELECT snapshot_version, scope, slice, agreement, acceptance_rate, ignore_rate, ece, exact_match FROM label_quality WHERE project = @project AND label = '*' ORDER BY snapshot_version, scope, slice",
  ],
  [
    'estimates',
    "SELECT snapshot_version, model, round_id, label, measure, estimate, ci_low, ci_high, n_sample, method, flag FROM quality_estimates WHERE project = @project ORDER BY snapshot_version, model, COALESCE(round_id, '~'), label, measure",
  ],
  [
    'annotators',
    'SELECT snapshot_version, annotator, answers, accepts, rejects, ignores, items, gap_p50_s, first_answer_at FROM annotators WHERE project = @project ORDER BY snapshot_version, annotator',
  ],
  [
    'agreement view',
    'SELECT snapshot_version, metric, annotator_a, annotator_b, items, kappa, answers_a, answers_b FROM v_annotator_agreement WHERE project = @project ORDER BY snapshot_version, metric, annotator_a',
  ],
  ['snapshots', 'SELECT snapshot_version, event_time, items, labelled, changed, answers FROM snapshots WHERE project = @project ORDER BY snapshot_version'],
  ['aggregate', 'SELECT COUNT(*) AS n, SUM(items_scored) AS scored, MAX(event_time) AS latest FROM rounds WHERE project = @project'],
];

let duck: StatsSink;
beforeAll(async () => {
  duck = await openDuckdbSink(join(tmp, 'stats.duckdb'));
  for (const [id, rows] of batches) await duck.write(id, rows);
});

afterAll(async () => {
  await duck?.close();
  rmSync(tmp, { recursive: true, force: true });
  const client = rawClient();
  for (const d of datasets)
    await client
      .dataset(d)
      .delete({ force: true })
      .catch(() => {});
});

/** Floats may differ in the last bits between engines. */
function roundFloats(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(12)) : v])),
  );
}

// Each sink open creates ~12 tables and views one request at a time: slow on a loaded CI box.
const SLOW = 240_000;

describe('BigQuery stats sink (emulator)', () => {
  it(
    'creates the dataset, writes every batch once, and answers like DuckDB',
    async () => {
      const dataset = datasetName('same');
      const bq = await openBigQuerySink({ projectId, dataset, location: 'US', apiEndpoint: endpoint });
      try {
        for (const [id, rows] of batches) expect(await bq.write(id, rows), id).toEqual({ written: true });
        for (const [id, rows] of batches) expect(await bq.write(id, rows), id).toEqual({ written: false });
        for (const [name, sql] of QUERIES) {
          const [a, b] = await Promise.all([duck.query(sql, { project: 'support-intents' }), bq.query(sql, { project: 'support-intents' })]);
          expect(a.length, name).toBeGreaterThan(0);
          expect(roundFloats(b), name).toEqual(roundFloats(a));
        }
        // The report reads the same data from either sink.
        const [ra, rb] = await Promise.all([loadReportData(duck, 'support-intents', 't'), loadReportData(bq, 'support-intents', 't')]);
        for (const key of ['rounds', 'scoreHist', 'drift', 'estimates', 'reviewed', 'quality', 'agreement', 'snapshots'] as const) {
          expect(roundFloats(rb[key]), key).toEqual(roundFloats(ra[key]));
        }
      } finally {
        await bq.close();
      }
    },
    SLOW,
  );

  it(
    'partitions by day on event_time and clusters by project',
    async () => {
      const dataset = datasetName('meta');
      const bq = await openBigQuerySink({ projectId, dataset, apiEndpoint: endpoint });
      await bq.close();
      const [meta] = await rawClient().dataset(dataset).table('label_quality').getMetadata();
      expect(meta.timePartitioning).toMatchObject({ type: 'DAY', field: 'event_time' });
      expect(meta.clustering).toEqual({ fields: ['project', 'label', 'slice'] });
      const [view] = await rawClient().dataset(dataset).table('v_drift_trend').getMetadata();
      expect(view.type).toBe('VIEW');
      // Reopening an existing dataset changes nothing and fails nothing.
      await (await openBigQuerySink({ projectId, dataset, apiEndpoint: endpoint })).close();
    },
    SLOW,
  );

  it(
    'a repeated load finds its deterministic job and writes nothing twice',
    async () => {
      const dataset = datasetName('jobs');
      const bq = await openBigQuerySink({ projectId, dataset, apiEndpoint: endpoint });
      try {
        const [id, rows] = batches[0];
        expect(await bq.write(id, rows)).toEqual({ written: true });
        // Lose the batch marker: every load (tables and marker) must still be a
        // no-op, because its job id already exists.
        await rawClient().query({ query: `DELETE FROM \`${projectId}.${dataset}._batches\` WHERE TRUE` });
        expect(await bq.query('SELECT COUNT(*) AS n FROM _batches')).toEqual([{ n: 0 }]);
        expect(await bq.write(id, rows)).toEqual({ written: false });
        const n = await bq.query('SELECT COUNT(*) AS n FROM rounds');
        expect(n[0].n).toBe(1);
        const hist = await bq.query('SELECT COUNT(*) AS n FROM round_histograms');
        expect(hist[0].n).toBe(30);
        expect(loadJobId(dataset, 'rounds', id, 'abc')).toBe(loadJobId(dataset, 'rounds', id, 'abc'));
        expect(loadJobId(dataset, 'rounds', id, 'abc')).toMatch(/^[A-Za-z0-9_-]{1,1024}$/);
      } finally {
        await bq.close();
      }
    },
    SLOW,
  );

  it('rejects a bad dataset id before any request', async () => {
    await expect(openBigQuerySink({ projectId, dataset: 'bad-name; DROP', apiEndpoint: endpoint })).rejects.toMatchObject({ code: 'STATS_FAILED' });
  });
});
