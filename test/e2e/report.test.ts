import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeBatchId, mergeRows, roundBatchId, roundRows } from '../../domain/quality/compute.js';
import { openDuckdbSink } from '../../worker/stats/sinks/duckdb-sink.js';
import { loadReportData, renderReport, type ReportData } from '../../worker/stats/report.js';
import { MERGES, ROUNDS } from '../fixtures/stats-sample.js';

/** Debian's package; `npm test` installs it (apt-get install -y chromium) when missing. */
const CHROMIUM = process.env.RL_CHROMIUM ?? '/usr/bin/chromium';
const dir = mkdtempSync(join(tmpdir(), 'rl-report-'));
let data: ReportData;

beforeAll(async () => {
  const sink = await openDuckdbSink(join(dir, 'stats.duckdb'));
  try {
    await sink.write(roundBatchId('support-intents', ROUNDS[0].round), roundRows(ROUNDS[0], null, null));
    await sink.write(roundBatchId('support-intents', ROUNDS[1].round), roundRows(ROUNDS[1], ROUNDS[0], ROUNDS[0]));
    await sink.write(roundBatchId('support-intents', ROUNDS[2].round), roundRows(ROUNDS[2], ROUNDS[1], ROUNDS[0]));
    for (const m of MERGES) await sink.write(mergeBatchId(m.project, m.version), mergeRows(m));
    data = await loadReportData(sink, 'support-intents', '2026-11-27T03:00:00Z');
  } finally {
    await sink.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('HTML report', () => {
  it('is self-contained and deterministic', () => {
    const html = renderReport(data);
    expect(html).toBe(renderReport(data));
    expect(html).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org)/i);
    expect(html.match(/<svg[\s>]/g)?.length).toBe(7);
    expect(html).toContain('support-intents');
    expect(renderReport({ ...data, project: '<x>' })).toContain('&lt;x&gt;');
  });

  it('leads with the audit estimate, its interval and n per model and round, and labels reviewed-for-doubt figures', () => {
    const html = renderReport(data);
    // Audit items a1 (round 1) and a2 (round 2) of model v1, both predicted right: 1 of 1 → Wilson [0.21, 1.00].
    const lead = html.slice(html.indexOf('class="headline"'), html.indexOf('class="tiles"'));
    expect(lead).toContain('model v1, round 20261126T0200Z: accuracy 1.00 [0.21, 1.00], n = 1 audited — LOW N');
    expect(lead).toContain('model v1, all rounds: accuracy 1.00');
    expect(lead).toContain('reviewed items, selected for doubt: not a quality estimate');
    expect(html).not.toMatch(/pessimistic/);
    // Error bars and low-n marks are drawn in the audit charts.
    expect(html).toContain('low n');
  });

  it('shows an empty state instead of a chart without data', () => {
    const html = renderReport({
      project: 'p',
      generatedAt: 't',
      rounds: [],
      scoreHist: [],
      drift: [],
      estimates: [],
      reviewed: [],
      quality: [],
      agreement: [],
      snapshots: [],
    });
    expect(html.match(/No data yet/g)?.length).toBe(7);
  });

  it('opens in headless Chromium with every chart and no console errors or network requests', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`Chromium not found at ${CHROMIUM}: run the tests with \`npm test\` (it installs the Debian package "chromium"), or set RL_CHROMIUM`);
    const file = join(dir, 'report.html');
    writeFileSync(file, renderReport(data));
    const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        requests.push(url);
        return route.abort();
      });
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      expect(await page.title()).toBe('reviewloop report · support-intents');
      const charts = await page.locator('section figure svg').evaluateAll((els) =>
        els.map((e) => {
          const r = e.getBoundingClientRect();
          return { w: r.width, h: r.height, shapes: e.querySelectorAll('path, rect, text').length };
        }),
      );
      expect(charts).toHaveLength(7);
      for (const c of charts) {
        expect(c.w).toBeGreaterThan(300);
        expect(c.h).toBeGreaterThan(150);
        expect(c.shapes).toBeGreaterThan(10);
      }
      expect(await page.locator('h2').allTextContents()).toEqual([
        'Model quality, estimated from the random audit slice (95% intervals)',
        'Score distribution per round',
        'Drift over rounds',
        'Model quality per round (audit estimates)',
        'Per-label F1 (audit estimates)',
        'Review workflow',
        'Annotator agreement',
        'Snapshot growth',
      ]);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      if (process.env.RL_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.RL_REPORT_SCREENSHOT, fullPage: true });
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
