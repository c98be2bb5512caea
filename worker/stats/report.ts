/**
 * The HTML report: one self-contained file (no scripts, no network) with
 * charts drawn server-side by Apache ECharts into inline SVG. Data comes from
 * the stats sink through the same SQL on DuckDB and BigQuery.
 */
import * as echarts from 'echarts';
import type { ResultValue, StatsSink } from './sink.js';

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
  /** label_quality, scope snapshot: snapshot_version, slice, label, f1_score. */
  labelF1: R[];
  /** label_quality, scope merge, slice all, label '*': snapshot_version, acceptance_rate, agreement, ignore_rate. */
  quality: R[];
  /** annotator_agreement: snapshot_version, metric, annotator_a, annotator_b, items, kappa. */
  agreement: R[];
  /** snapshots: snapshot_version, event_time, items, labelled, answers. */
  snapshots: R[];
}

/** How many of the latest rounds the score distribution chart overlays. Default 6. */
export const SCORE_ROUNDS_SHOWN = 6;

/** Reads the report's data for one project from any sink (same SQL on both). */
export async function loadReportData(sink: StatsSink, project: string, generatedAt: string): Promise<ReportData> {
  const p = { project };
  const [rounds, scoreHist, drift, labelF1, quality, agreement, snapshots] = await Promise.all([
    sink.query('SELECT round_id, event_time, items_scored, items_queued, items_rejected, mean_confidence FROM rounds WHERE project = @project ORDER BY event_time, round_id', p),
    sink.query("SELECT round_id, bin_index, bin_lower, bin_upper, n FROM round_histograms WHERE project = @project AND histogram = 'score' ORDER BY event_time, round_id, bin_index", p),
    sink.query('SELECT round_id, event_time, baseline, psi_confidence, js_labels FROM v_drift_trend WHERE project = @project ORDER BY event_time, baseline', p),
    sink.query('SELECT snapshot_version, slice, label, f1_score FROM v_label_f1_trend WHERE project = @project ORDER BY snapshot_version, slice, label', p),
    sink.query("SELECT snapshot_version, acceptance_rate, agreement, ignore_rate FROM label_quality WHERE project = @project AND scope = 'merge' AND slice = 'all' AND label = '*' ORDER BY snapshot_version", p),
    sink.query('SELECT snapshot_version, metric, annotator_a, annotator_b, items, kappa FROM v_annotator_agreement WHERE project = @project ORDER BY snapshot_version, metric, annotator_a, annotator_b', p),
    sink.query('SELECT snapshot_version, event_time, items, labelled, answers FROM snapshots WHERE project = @project ORDER BY snapshot_version', p),
  ]);
  return { project, generatedAt, rounds, scoreHist, drift, labelF1, quality, agreement, snapshots };
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
      name: round, type: 'line' as const, smooth: false, showSymbol: false,
      data: bins.map((b) => [((num(b.bin_lower) ?? 0) + (num(b.bin_upper) ?? 0)) / 2, total > 0 ? (num(b.n) ?? 0) / total : 0]),
    };
  });
  return svg({ legend, grid, tooltip: {}, xAxis: { type: 'value', name: 'score', nameLocation: 'middle', nameGap: 28, scale: true }, yAxis: { type: 'value', name: 'share of records' }, series });
}

function driftChart(d: ReportData): string | null {
  if (d.drift.length === 0) return null;
  const rounds = uniq(d.drift.map((r) => String(r.round_id)));
  const line = (baseline: string, field: 'psi_confidence' | 'js_labels', name: string, dashed: boolean) => ({
    name, type: 'line' as const, connectNulls: true,
    lineStyle: { type: dashed ? ('dashed' as const) : ('solid' as const) },
    data: rounds.map((round) => num(d.drift.find((r) => r.round_id === round && r.baseline === baseline)?.[field] ?? null)),
  });
  const series: echarts.SeriesOption[] = [
    { ...line('previous', 'psi_confidence', 'PSI vs previous', false),
      markArea: { silent: true, data: [
        [{ yAxis: 0, itemStyle: { color: 'rgba(5,150,105,0.08)' } }, { yAxis: 0.1 }],
        [{ yAxis: 0.1, itemStyle: { color: 'rgba(217,119,6,0.10)' } }, { yAxis: 0.25 }],
        [{ yAxis: 0.25, itemStyle: { color: 'rgba(220,38,38,0.08)' } }, { yAxis: 'max' }],
      ] },
      markLine: { silent: true, symbol: 'none', lineStyle: { color: '#9ca3af' }, label: { formatter: (p: { value?: unknown }) => String(p.value) }, data: [{ yAxis: 0.1 }, { yAxis: 0.25 }] } },
    line('reference', 'psi_confidence', 'PSI vs reference', true),
    line('previous', 'js_labels', 'JS labels vs previous', false),
    line('reference', 'js_labels', 'JS labels vs reference', true),
  ];
  // Always show the 0.25 band; round the top so the axis labels stay short.
  const peak = Math.max(0, ...d.drift.flatMap((r) => [num(r.psi_confidence) ?? 0, num(r.js_labels) ?? 0]));
  const top = Math.max(0.3, Math.ceil(peak * 1.1 * 10) / 10);
  return svg({ legend, grid: { ...grid, right: 56 }, tooltip: {}, xAxis: { type: 'category', data: rounds, name: 'round', nameLocation: 'middle', nameGap: 28 }, yAxis: { type: 'value', min: 0, max: top }, series });
}

function f1Chart(d: ReportData): string | null {
  const rows = d.labelF1.filter((r) => r.slice === 'all');
  if (rows.length === 0) return null;
  const versions = uniq(rows.map((r) => num(r.snapshot_version) ?? 0)).sort((a, b) => a - b);
  const labels = uniq(rows.map((r) => String(r.label)));
  const series: echarts.SeriesOption[] = labels.map((label) => ({
    name: label === '*' ? 'micro (all labels)' : label, type: 'line', connectNulls: true,
    lineStyle: label === '*' ? { width: 3 } : undefined,
    data: versions.map((v) => num(rows.find((r) => r.snapshot_version === v && r.label === label)?.f1_score ?? null)),
  }));
  const audit = d.labelF1.filter((r) => r.slice === 'audit' && r.label === '*');
  if (audit.length > 0) {
    series.push({ name: 'micro, audit-weighted (unbiased)', type: 'line', lineStyle: { type: 'dashed', width: 3 }, connectNulls: true,
      data: versions.map((v) => num(audit.find((r) => r.snapshot_version === v)?.f1_score ?? null)) });
  }
  return svg({ legend, grid, tooltip: {}, xAxis: { type: 'category', data: versions.map((v) => `v${v}`), name: 'snapshot', nameLocation: 'middle', nameGap: 28 }, yAxis: { type: 'value', min: 0, max: 1, name: 'F1' }, series });
}

function acceptanceChart(d: ReportData): string | null {
  if (d.quality.length === 0) return null;
  const versions = d.quality.map((r) => `v${r.snapshot_version}`);
  const s = (field: string, name: string) => ({ name, type: 'line' as const, connectNulls: true, data: d.quality.map((r) => num(r[field])) });
  return svg({ legend, grid, tooltip: {}, xAxis: { type: 'category', data: versions, name: 'merge (snapshot)', nameLocation: 'middle', nameGap: 28 }, yAxis: { type: 'value', min: 0, max: 1 },
    series: [s('acceptance_rate', 'acceptance rate'), s('agreement', 'model = human'), s('ignore_rate', 'ignore rate')] });
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
  return svg({ grid: { ...grid, left: 140 }, tooltip: {}, title: { text: `snapshot v${latest}`, left: 'right', textStyle: { fontSize: 12, color: '#6b7280' } },
    xAxis: { type: 'value', min: -1, max: 1, name: 'kappa', nameLocation: 'middle', nameGap: 28 },
    yAxis: { type: 'category', data: names },
    series: [{ type: 'bar', data: rows.map((r) => num(r.kappa)), label: { show: true, position: 'right', formatter: (p: { value: unknown }) => (typeof p.value === 'number' ? p.value.toFixed(2) : 'n/a') },
      markLine: { silent: true, symbol: 'none', lineStyle: { color: '#9ca3af' }, data: [{ xAxis: 0.6 }] } }],
  }, Math.max(200, 60 + rows.length * 36));
}

function growthChart(d: ReportData): string | null {
  if (d.snapshots.length === 0) return null;
  const versions = d.snapshots.map((r) => `v${r.snapshot_version}`);
  const s = (field: string, name: string) => ({ name, type: 'line' as const, areaStyle: { opacity: 0.15 }, data: d.snapshots.map((r) => num(r[field])) });
  return svg({ legend, grid, tooltip: {}, xAxis: { type: 'category', data: versions, name: 'snapshot', nameLocation: 'middle', nameGap: 28 }, yAxis: { type: 'value', name: 'items' },
    series: [s('items', 'items'), s('labelled', 'labelled')] });
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

/** Renders the report as one HTML document (inline CSS and SVG only). */
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
    ['acceptance rate', lastQ ? fmt(lastQ.acceptance_rate, 2) : '–'],
  ].map(([k, v]) => `<div class="tile"><div class="k">${esc(k)}</div><div class="v">${v}</div></div>`).join('');
  const sections = [
    section('Score distribution per round', 'Share of scored records per uncertainty-score bin, one line per round (latest rounds). A shift to the right means the model is less sure of more items.', scoreChart(data)),
    section('Drift over rounds', 'PSI of the confidence histogram and Jensen–Shannon divergence (log2, 0–1) of the predicted labels, against the previous round (solid) and the pinned reference (dashed). Bands: PSI below 0.1 stable, 0.1–0.25 moderate, above 0.25 significant.', driftChart(data)),
    section('Per-label F1 over snapshots', 'F1 of the model against the human labels, cumulative over each snapshot. Reviewed items were picked for doubt, so these are pessimistic; the dashed line is the unbiased estimate from the random audit slice.', f1Chart(data)),
    section('Acceptance rate', 'Per merge: share of accept among accept/reject answers, how often the model already had the human label, and the share of ignored tasks.', acceptanceChart(data)),
    section('Annotator agreement', "Cohen's kappa per pair of reviewers and Fleiss' kappa over all, on items several reviewers answered (1 = perfect, 0 = chance; the line marks 0.6, substantial).", agreementChart(data)),
    section('Snapshot growth', 'Items in each training snapshot and how many of them carry a label.', growthChart(data)),
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
</style>
</head>
<body>
<header><h1>reviewloop report <small>· ${esc(data.project)}</small></h1><div class="meta">Generated ${esc(data.generatedAt)} · charts by Apache ECharts, rendered to SVG</div></header>
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
