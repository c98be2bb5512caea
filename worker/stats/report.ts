/**
 * The HTML report: one self-contained file (no scripts, no network) with
 * charts drawn server-side by Apache ECharts into inline SVG. Data comes from
 * the stats sink through the same SQL on DuckDB and BigQuery.
 */
import * as echarts from 'echarts';
import { formatEstimate, formatReviewed, pickHeadline, REVIEWED_NOTE, HEADLINE_MEASURES, type Estimate } from './headline.js';
import { wilsonInterval } from '../../domain/quality/intervals.js';
import type { ResultValue, StatsSink } from './sinks/sink.js';

type R = Record<string, ResultValue>;

/** Everything the report shows; plain rows as returned by the sink. */
export interface ReportData {
  project: string;
  /** ISO time shown as "generated at" (passed in so the output is reproducible). */
  generatedAt: string;
  /** rounds: round_id, event_time, items_scored, items_queued, items_rejected, mean_confidence. */
  rounds: R[];
  /** round_histograms (histogram = 'score'): round_id, bin_index, bin_lower, bin_upper, n. */
  scoreHist: R[];
  /** drift: round_id, event_time, baseline, psi_confidence, js_labels. */
  drift: R[];
  /** quality_estimates of the latest snapshot (all models, rounds, labels, measures). */
  estimates: R[];
  /** label_quality of the latest snapshot, scope snapshot, slice uncertainty, label '*': items, f1_score, agreement, acceptance_rate. */
  reviewed: R[];
  /** label_quality, scope merge, slice all, label '*': snapshot_version, acceptance_rate, agreement, ignore_rate. */
  quality: R[];
  /** annotator_agreement: snapshot_version, metric, annotator_a, annotator_b, items, kappa. */
  agreement: R[];
  /** snapshots: snapshot_version, event_time, items, labelled, answers. */
  snapshots: R[];
  /** segmentation_iou, scope snapshot: snapshot_version, label, items, iou (image-segmentation projects; empty otherwise). */
  segmentationIou?: R[];
  /** label_issues of the latest snapshot: round_id, label, flagged, reviewed, changed, noise_rate; absent or empty without label-issue rounds. */
  labelIssues?: R[];
}

/** How many of the latest rounds the score distribution chart overlays. Default 6. */
export const SCORE_ROUNDS_SHOWN = 6;

/** Reads the report's data for one project from any sink (same SQL on both). */
export async function loadReportData(sink: StatsSink, project: string, generatedAt: string): Promise<ReportData> {
  const p = { project };
  const latest = 'snapshot_version = (SELECT MAX(snapshot_version) FROM snapshots WHERE project = @project)';
  const [rounds, scoreHist, drift, estimates, reviewed, quality, agreement, snapshots, labelIssues] = await Promise.all([
    sink.query(
      'SELECT round_id, event_time, items_scored, items_queued, items_rejected, mean_confidence FROM rounds WHERE project = @project ORDER BY event_time, round_id',
      p,
    ),
    sink.query(
      "SELECT round_id, bin_index, bin_lower, bin_upper, n FROM round_histograms WHERE project = @project AND histogram = 'score' ORDER BY event_time, round_id, bin_index",
      p,
    ),
    sink.query(
      'SELECT round_id, event_time, baseline, psi_confidence, psi_noise_p95, js_labels FROM v_drift_trend WHERE project = @project ORDER BY event_time, baseline',
      p,
    ),
    // COALESCE: the two sinks sort NULLs differently.
    sink.query(
      `SELECT model, round_id, label, measure, estimate, ci_low, ci_high, n_sample, method, flag FROM quality_estimates WHERE project = @project AND ${latest} ORDER BY model, COALESCE(round_id, '~'), label, measure`,
      p,
    ),
    sink.query(
      `SELECT items, f1_score, agreement, acceptance_rate FROM label_quality WHERE project = @project AND ${latest} AND scope = 'snapshot' AND slice = 'uncertainty' AND label = '*'`,
      p,
    ),
    sink.query(
      "SELECT snapshot_version, acceptance_rate, agreement, ignore_rate FROM label_quality WHERE project = @project AND scope = 'merge' AND slice = 'all' AND label = '*' ORDER BY snapshot_version",
      p,
    ),
    sink.query(
      'SELECT snapshot_version, metric, annotator_a, annotator_b, items, kappa FROM v_annotator_agreement WHERE project = @project ORDER BY snapshot_version, metric, annotator_a, annotator_b',
      p,
    ),
    sink.query('SELECT snapshot_version, event_time, items, labelled, answers FROM snapshots WHERE project = @project ORDER BY snapshot_version', p),
    sink.query(
      `SELECT round_id, label, flagged, reviewed, changed, noise_rate FROM label_issues WHERE project = @project AND ${latest} ORDER BY round_id, label`,
      p,
    ),
  ]);
  const segmentationIou = await sink.query(
    "SELECT snapshot_version, label, items, iou FROM segmentation_iou WHERE project = @project AND scope = 'snapshot' ORDER BY snapshot_version, label",
    p,
  );
  return { project, generatedAt, rounds, scoreHist, drift, estimates, reviewed, quality, agreement, snapshots, segmentationIou, labelIssues };
}

const W = 880;
const H = 320;
const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

function svg(option: echarts.EChartsOption, height = H): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: W, height });
  try {
    chart.setOption({ animation: false, color: PALETTE, textStyle: { fontFamily: 'system-ui, sans-serif' }, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const num = (v: ResultValue): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
const grid = { left: 56, right: 24, top: 48, bottom: 48 };
const legend = { top: 8, type: 'scroll' as const };

function scoreChart(d: ReportData): string | null {
  const rounds = uniq(d.scoreHist.map((r) => String(r.round_id))).slice(-SCORE_ROUNDS_SHOWN);
  if (rounds.length === 0) return null;
  const series = rounds.map((round) => {
    const bins = d.scoreHist.filter((r) => r.round_id === round);
    const total = bins.reduce((s, b) => s + (num(b.n) ?? 0), 0);
    return {
      name: round,
      type: 'line' as const,
      smooth: false,
      showSymbol: false,
      data: bins.map((b) => [((num(b.bin_lower) ?? 0) + (num(b.bin_upper) ?? 0)) / 2, total > 0 ? (num(b.n) ?? 0) / total : 0]),
    };
  });
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'value', name: 'score', nameLocation: 'middle', nameGap: 28, scale: true },
    yAxis: { type: 'value', name: 'share of records' },
    series,
  });
}

function driftChart(d: ReportData): string | null {
  if (d.drift.length === 0) return null;
  const rounds = uniq(d.drift.map((r) => String(r.round_id)));
  const line = (baseline: string, field: 'psi_confidence' | 'psi_noise_p95' | 'js_labels', name: string, dashed: boolean) => ({
    name,
    type: 'line' as const,
    connectNulls: true,
    lineStyle: { type: dashed ? ('dashed' as const) : ('solid' as const) },
    data: rounds.map((round) => num(d.drift.find((r) => r.round_id === round && r.baseline === baseline)?.[field] ?? null)),
  });
  const series: echarts.SeriesOption[] = [
    {
      ...line('previous', 'psi_confidence', 'PSI vs previous', false),
      markArea: {
        silent: true,
        data: [
          [{ yAxis: 0, itemStyle: { color: 'rgba(5,150,105,0.08)' } }, { yAxis: 0.1 }],
          [{ yAxis: 0.1, itemStyle: { color: 'rgba(217,119,6,0.10)' } }, { yAxis: 0.25 }],
          [{ yAxis: 0.25, itemStyle: { color: 'rgba(220,38,38,0.08)' } }, { yAxis: 'max' }],
        ],
      },
      markLine: {
        silent: true,
        symbol: 'none',
        lineStyle: { color: '#9ca3af' },
        label: { formatter: (p: { value?: unknown }) => String(p.value) },
        data: [{ yAxis: 0.1 }, { yAxis: 0.25 }],
      },
    },
    line('reference', 'psi_confidence', 'PSI vs reference', true),
    {
      ...line('previous', 'psi_noise_p95', 'PSI noise floor (95%)', false),
      lineStyle: { type: 'dotted' as const, color: '#6b7280' },
      itemStyle: { color: '#6b7280' },
    },
    line('previous', 'js_labels', 'JS labels vs previous', false),
    line('reference', 'js_labels', 'JS labels vs reference', true),
  ];
  // Always show the 0.25 band; round the top so the axis labels stay short.
  const peak = Math.max(0, ...d.drift.flatMap((r) => [num(r.psi_confidence) ?? 0, num(r.js_labels) ?? 0]));
  const top = Math.max(0.3, Math.ceil(peak * 1.1 * 10) / 10);
  return svg({
    legend,
    grid: { ...grid, right: 56 },
    tooltip: {},
    xAxis: { type: 'category', data: rounds, name: 'round', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: top },
    series,
  });
}

function toEstimate(r: R): Estimate {
  return {
    model: String(r.model),
    round_id: r.round_id === null ? null : String(r.round_id),
    measure: String(r.measure),
    estimate: num(r.estimate),
    ci_low: num(r.ci_low),
    ci_high: num(r.ci_high),
    n_sample: num(r.n_sample) ?? 0,
    method: String(r.method),
    flag: r.flag === null ? null : String(r.flag),
  };
}

/** One interval point: category index, estimate, 95% bounds, low-n mark (1) or not (0). */
type IntervalPoint = [number, number | null, number | null, number | null, number];

interface RenderApi {
  value: (i: number) => number;
  coord: (v: [number, number]) => number[];
}

/**
 * A series drawing each point as its estimate with a 95% error bar; `low_n`
 * points are hollow and labelled "low n". Several series on one category
 * axis sit side by side (`slot` of `slots`).
 */
function intervalSeries(name: string, points: IntervalPoint[], slot: number, slots: number, color: string): echarts.SeriesOption {
  const offset = (slot - (slots - 1) / 2) * 16;
  const line = (x1: number, y1: number, x2: number, y2: number) => ({ type: 'line', shape: { x1, y1, x2, y2 }, style: { stroke: color, lineWidth: 1.5 } });
  return {
    name,
    type: 'custom',
    itemStyle: { color },
    encode: { x: 0, y: 1 },
    data: points,
    renderItem: (_params: unknown, api: RenderApi) => {
      const x = api.value(0);
      const est = api.value(1);
      const lo = api.value(2);
      const hi = api.value(3);
      const lowN = api.value(4) === 1;
      const children: unknown[] = [];
      const px = api.coord([x, 0])[0] + offset;
      if (Number.isFinite(lo) && Number.isFinite(hi)) {
        const yl = api.coord([x, lo])[1];
        const yh = api.coord([x, hi])[1];
        children.push(line(px, yl, px, yh), line(px - 4, yl, px + 4, yl), line(px - 4, yh, px + 4, yh));
      }
      if (Number.isFinite(est)) {
        const cy = api.coord([x, est])[1];
        children.push({ type: 'circle', shape: { cx: px, cy, r: 4 }, style: lowN ? { fill: '#fff', stroke: color, lineWidth: 1.5 } : { fill: color } });
        if (lowN) children.push({ type: 'text', x: px + 6, y: cy - 14, style: { text: 'low n', fill: '#6b7280', fontSize: 10 } });
      }
      return { type: 'group', children } as never;
    },
  } as echarts.SeriesOption;
}

function point(x: number, e: Estimate): IntervalPoint {
  return [x, e.estimate, e.ci_low, e.ci_high, e.flag ? 1 : 0];
}

/** The overall headline measure per model and round (the latest snapshot's figures), with error bars. */
function auditChart(d: ReportData): string | null {
  const rows = d.estimates.filter((r) => r.label === '*').map(toEstimate);
  const measure = HEADLINE_MEASURES.find((m) => rows.some((r) => r.measure === m));
  if (!measure) return null;
  const mine = rows.filter((r) => r.measure === measure && r.model !== '*' && r.round_id !== null);
  const rounds = uniq(mine.map((r) => r.round_id!)).sort();
  const models = uniq(mine.map((r) => r.model)).sort();
  const series = models.map((model, i) =>
    intervalSeries(
      `model ${model}`,
      mine.filter((r) => r.model === model).map((r) => point(rounds.indexOf(r.round_id!), r)),
      i,
      models.length,
      PALETTE[i % PALETTE.length],
    ),
  );
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: rounds, name: 'round (audit slice)', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: 1, name: measure.replace(/_/g, ' ') },
    series,
  });
}

/** Per-label F1 on the audit slice: per model, its latest round (the latest snapshot's figures), with error bars. */
function labelChart(d: ReportData): string | null {
  const rows = d.estimates
    .filter((r) => r.label !== '*' && r.model !== '*' && r.round_id !== null && /(^|_)f1$/.test(String(r.measure)))
    .map((r) => ({ ...toEstimate(r), label: String(r.label) }));
  if (rows.length === 0) return null;
  const models = uniq(rows.map((r) => r.model)).sort();
  const latestRound = new Map(
    models.map((m) => [
      m,
      rows
        .filter((r) => r.model === m)
        .map((r) => r.round_id!)
        .sort()
        .pop()!,
    ]),
  );
  const shown = rows.filter((r) => r.round_id === latestRound.get(r.model));
  const labels = uniq(shown.map((r) => r.label));
  const series = models.map((model, i) =>
    intervalSeries(
      `model ${model}, round ${latestRound.get(model)}`,
      shown.filter((r) => r.model === model).map((r) => point(labels.indexOf(r.label), r)),
      i,
      models.length,
      PALETTE[i % PALETTE.length],
    ),
  );
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: labels, name: 'label', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: 1, name: 'F1 (audit)' },
    series,
  });
}

/**
 * Per label-issue round (the latest snapshot's counts): how often the detector
 * was right (changed / reviewed over all labels, with its 95% Wilson interval),
 * and the noise rate its confident joint estimated, averaged over the labels
 * weighted by how many items each flagged.
 */
function labelIssueChart(d: ReportData): string | null {
  const rows = d.labelIssues ?? [];
  if (rows.length === 0) return null;
  const rounds = uniq(rows.map((r) => String(r.round_id))).sort();
  const sum = (round: string, f: string) => rows.filter((r) => r.round_id === round).reduce((a, r) => a + (num(r[f]) ?? 0), 0);
  const precision: IntervalPoint[] = rounds.map((round, x) => {
    const reviewed = sum(round, 'reviewed');
    const changed = sum(round, 'changed');
    const ci = wilsonInterval(changed, reviewed);
    return [x, reviewed > 0 ? changed / reviewed : null, ci?.low ?? null, ci?.high ?? null, reviewed > 0 && reviewed < 10 ? 1 : 0];
  });
  const noise = rounds.map((round) => {
    const mine = rows.filter((r) => r.round_id === round && num(r.noise_rate) !== null);
    const weight = mine.reduce((a, r) => a + (num(r.flagged) ?? 0), 0);
    return weight > 0 ? mine.reduce((a, r) => a + (num(r.noise_rate) ?? 0) * (num(r.flagged) ?? 0), 0) / weight : null;
  });
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: rounds, name: 'label-issue round', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: [
      intervalSeries('detector precision (changed / reviewed)', precision, 0, 2, PALETTE[0]),
      { name: 'estimated noise rate (flagged labels)', type: 'line', connectNulls: true, data: noise, itemStyle: { color: PALETTE[1] } },
    ],
  });
}

function acceptanceChart(d: ReportData): string | null {
  if (d.quality.length === 0) return null;
  const versions = d.quality.map((r) => `v${r.snapshot_version}`);
  const s = (field: string, name: string) => ({ name, type: 'line' as const, connectNulls: true, data: d.quality.map((r) => num(r[field])) });
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: versions, name: 'merge (snapshot)', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: 1 },
    series: [s('acceptance_rate', 'suggestion kept'), s('ignore_rate', 'ignore rate')],
  });
}

/** Mean IoU ("*") and per-label pooled IoU per snapshot, model mask vs reviewed mask; null without segmentation rows. */
function iouChart(d: ReportData): string | null {
  const rows = d.segmentationIou ?? [];
  if (rows.length === 0) return null;
  const versions = [...new Set(rows.map((r) => Number(r.snapshot_version)))];
  const labels = [...new Set(rows.map((r) => String(r.label)))].sort((a, b) => (a === '*' ? -1 : b === '*' ? 1 : a < b ? -1 : 1));
  const series = labels.map((label) => ({
    name: label === '*' ? 'mean IoU' : label,
    type: 'line' as const,
    connectNulls: true,
    data: versions.map((v) => num(rows.find((r) => Number(r.snapshot_version) === v && r.label === label)?.iou ?? null)),
  }));
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: versions.map((v) => `v${v}`), name: 'snapshot', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', min: 0, max: 1 },
    series,
  });
}

/**
 * Prodigy names sessions `DATASET-NAME`, so every annotator id starts with the
 * same dataset: drop that shared `…-` prefix from axis labels so names fit.
 */
export function dropSharedPrefix(names: string[]): (name: string) => string {
  if (names.length < 2) return (n) => n;
  let prefix = names[0];
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const cut = prefix.lastIndexOf('-') + 1;
  return (n) => (cut > 0 && n.length > cut ? n.slice(cut) : n);
}

function agreementChart(d: ReportData): string | null {
  if (d.agreement.length === 0) return null;
  const latest = Math.max(...d.agreement.map((r) => num(r.snapshot_version) ?? 0));
  const rows = d.agreement.filter((r) => r.snapshot_version === latest);
  const short = dropSharedPrefix(rows.flatMap((r) => (r.metric === 'fleiss' ? [] : [String(r.annotator_a), String(r.annotator_b)])));
  const names = rows.map((r) => (r.metric === 'fleiss' ? 'Fleiss (all)' : `${short(String(r.annotator_a))} – ${short(String(r.annotator_b))}`));
  return svg(
    {
      grid: { ...grid, left: 140 },
      tooltip: {},
      title: { text: `snapshot v${latest}`, left: 'right', textStyle: { fontSize: 12, color: '#6b7280' } },
      xAxis: { type: 'value', min: -1, max: 1, name: 'kappa', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'category', data: names },
      series: [
        {
          type: 'bar',
          data: rows.map((r) => num(r.kappa)),
          label: { show: true, position: 'right', formatter: (p: { value: unknown }) => (typeof p.value === 'number' ? p.value.toFixed(2) : 'n/a') },
          markLine: { silent: true, symbol: 'none', lineStyle: { color: '#9ca3af' }, data: [{ xAxis: 0.6 }] },
        },
      ],
    },
    Math.max(200, 60 + rows.length * 36),
  );
}

function growthChart(d: ReportData): string | null {
  if (d.snapshots.length === 0) return null;
  const versions = d.snapshots.map((r) => `v${r.snapshot_version}`);
  const s = (field: string, name: string) => ({ name, type: 'line' as const, areaStyle: { opacity: 0.15 }, data: d.snapshots.map((r) => num(r[field])) });
  return svg({
    legend,
    grid,
    tooltip: {},
    xAxis: { type: 'category', data: versions, name: 'snapshot', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'value', name: 'items' },
    series: [s('items', 'items'), s('labelled', 'labelled')],
  });
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function section(title: string, caption: string, chart: string | null): string {
  const body = chart ?? '<p class="empty">No data yet.</p>';
  return `<section><h2>${esc(title)}</h2><p class="caption">${esc(caption)}</p><figure>${body}</figure></section>`;
}

function fmt(v: ResultValue, digits = 3): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : v === null ? '–' : esc(String(v));
}

/** The report's lead: audit estimates per model with intervals, then the reviewed-for-doubt figures under their name. */
function headlineBlock(d: ReportData): string {
  const est = pickHeadline(d.estimates.filter((r) => r.label === '*').map(toEstimate));
  const lines =
    est.length > 0
      ? est.map((e) => `<li${e.flag ? ' class="lown"' : ''}>${esc(formatEstimate(e))}</li>`)
      : ['<li class="empty">No audit estimate yet (no audited item answered).</li>'];
  const r = d.reviewed[0];
  const reviewed = r
    ? `<p class="reviewed">${esc(formatReviewed({ note: REVIEWED_NOTE, items: num(r.items) ?? 0, f1: num(r.f1_score), agreement: num(r.agreement), acceptance_rate: num(r.acceptance_rate) }))}</p>`
    : '';
  return `<section class="headline"><h2>Model quality, estimated from the random audit slice (95% intervals)</h2><ul>${lines.join('')}</ul>${reviewed}</section>`;
}

/** Renders the report as one HTML document (inline CSS and SVG only). long: the page's sections in document order, each built by a helper. */
export function renderReport(data: ReportData): string {
  const last = data.rounds[data.rounds.length - 1];
  const lastDrift = data.drift.filter((r) => r.round_id === last?.round_id && r.baseline === 'previous')[0];
  const lastSnap = data.snapshots[data.snapshots.length - 1];
  const lastQ = data.quality[data.quality.length - 1];
  const tiles = [
    ['rounds', String(data.rounds.length)],
    ['last round', last ? fmt(last.round_id) : '–'],
    ['PSI vs previous', lastDrift ? fmt(lastDrift.psi_confidence) : '–'],
    ['snapshot', lastSnap ? `v${fmt(lastSnap.snapshot_version)} · ${fmt(lastSnap.items)} items` : '–'],
    ['suggestion kept (reviewed)', lastQ ? fmt(lastQ.acceptance_rate, 2) : '–'],
  ]
    .map(([k, v]) => `<div class="tile"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`)
    .join('');
  const sections = [
    section(
      'Score distribution per round',
      'Share of scored records per uncertainty-score bin, one line per round (latest rounds). A shift to the right means the model is less sure of more items.',
      scoreChart(data),
    ),
    section(
      'Drift over rounds',
      "PSI of the confidence histogram and Jensen–Shannon divergence (log2, 0–1) of the predicted labels, against the previous round (solid) and the pinned reference (dashed). PSI uses bins at the baseline round's quantiles. Bands: PSI below 0.1 stable, 0.1–0.25 moderate, above 0.25 significant, and only beyond the grey dotted noise floor (95th percentile of PSI between two samples of these sizes without drift) does a band mean change.",
      driftChart(data),
    ),
    section(
      'Model quality per round (audit estimates)',
      'Estimated from the random audit slice of each round, per model version: the point is the estimate, the bar its 95% interval (Wilson for accuracy, seeded bootstrap otherwise). Hollow points marked "low n" rest on fewer than 10 audited items.',
      auditChart(data),
    ),
    section(
      'Per-label F1 (audit estimates)',
      'F1 per label on the audit slice of each model\'s latest round, with 95% bootstrap intervals. Hollow points marked "low n" rest on fewer than 10 audited items with that label (predicted or given); a point without a bar has no interval (every resample gave the same value).',
      labelChart(data),
    ),
    section(
      'Review workflow',
      `Per merge: share of answers that left the model's pre-filled suggestion unchanged, and the share of ignored tasks. ${REVIEWED_NOTE[0].toUpperCase()}${REVIEWED_NOTE.slice(1)}.`,
      acceptanceChart(data),
    ),
    section(
      'Annotator agreement',
      "Cohen's kappa per pair of reviewers and Fleiss' kappa over all, on items several reviewers answered (1 = perfect, 0 = chance; the line marks 0.6, substantial).",
      agreementChart(data),
    ),
    section('Snapshot growth', 'Items in each training snapshot and how many of them carry a label.', growthChart(data)),
    ...((data.segmentationIou ?? []).length > 0
      ? [
          section(
            'Segmentation IoU',
            "Per snapshot: IoU between the model's mask (the polygons reviewers were shown) and the reviewed mask, pooled over the labelled items, per label and as mean IoU over the labels. A label in no mask has no IoU (a gap, never 0).",
            iouChart(data),
          ),
        ]
      : []),
    ...((data.labelIssues ?? []).length > 0
      ? [
          section(
            'Label issues',
            "Per label-issue round: the share of reviewed flagged labels that reviewers changed (the detector's precision, with its 95% Wilson interval; hollow points rest on fewer than 10 reviews), and the noise rate confident learning estimated for the flagged labels. Counts as of the latest snapshot.",
            labelIssueChart(data),
          ),
        ]
      : []),
  ].join('\n');
  return stableIds(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reviewloop report · ${esc(data.project)}</title>
<style>
  :root { color-scheme: light; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827; background: #f9fafb; }
  header { padding: 28px 40px 12px; background: #fff; border-bottom: 1px solid #e5e7eb; }
  h1 { margin: 0; font-size: 22px; } h1 small { font-weight: 400; color: #6b7280; }
  .meta { color: #6b7280; font-size: 13px; margin-top: 4px; }
  .tiles { display: flex; flex-wrap: wrap; gap: 12px; padding: 16px 40px; }
  .tile { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 10px 16px; min-width: 140px; }
  .tile .k { font-size: 12px; color: #6b7280; text-transform: uppercase; letter-spacing: .04em; } .tile .v { font-size: 18px; font-weight: 600; }
  main { padding: 0 40px 40px; max-width: 960px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 8px; padding: 16px 20px; margin-top: 16px; }
  h2 { margin: 0 0 4px; font-size: 17px; } .caption { margin: 0 0 8px; color: #4b5563; font-size: 13px; }
  figure { margin: 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
  .empty { color: #9ca3af; font-style: italic; }
  .headline { margin: 16px 40px 0; max-width: 920px; } .headline ul { margin: 4px 0; padding-left: 20px; } .headline li { font-size: 15px; }
  .lown { color: #92400e; } .reviewed { color: #6b7280; font-size: 13px; margin: 4px 0 0; }
</style>
</head>
<body>
<header><h1>reviewloop report <small>· ${esc(data.project)}</small></h1><div class="meta">Generated ${esc(data.generatedAt)} · charts by Apache ECharts, rendered to SVG</div></header>
${headlineBlock(data)}
<div class="tiles">${tiles}</div>
<main>
${sections}
</main>
</body>
</html>
`);
}

/**
 * ECharts numbers SVG ids and classes with process-wide counters
 * (`zr12-c3`, `zr12-cls-47`); renumbering them per document, in order of first
 * appearance, keeps the output byte-identical across runs while they stay
 * distinct between charts.
 */
function stableIds(html: string): string {
  const zr = new Map<string, number>();
  const cls = new Map<string, number>();
  return html
    .replace(/\bzr(\d+)-/g, (_m, n: string) => {
      if (!zr.has(n)) zr.set(n, zr.size + 1);
      return `zr${zr.get(n)}-`;
    })
    .replace(/\b(zr\d+)-cls-(\d+)\b/g, (m, prefix: string) => {
      if (!cls.has(m)) cls.set(m, cls.size);
      return `${prefix}-cls-${cls.get(m)}`;
    });
}
