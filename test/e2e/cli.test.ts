import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');

function cli(args: string[], cwd = ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, REVIEWLOOP_DEBUG: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('reviewloop CLI as a user runs it', () => {
  let dir: string;
  let demo: ReturnType<typeof cli>;
  beforeAll(() => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'rl-cli-'));
    demo = cli(['demo', '--dir', path.join(dir, 'demo')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('explains every command and flag', () => {
    const help = cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['demo', 'round', 'merge', 'status', 'query', 'report']) expect(help.out).toContain(c);
    const round = cli(['round', '--help']);
    expect(round.out).toMatch(/--round <id>/);
    expect(round.out).toMatch(/--project <name>/);
    expect(round.out).toMatch(/-c, --config <file>/);
  });

  it('demo runs two rounds end to end and says the reviewer is simulated', () => {
    expect(demo.code, demo.err).toBe(0);
    expect(demo.out).toContain('SIMULATED');
    expect(demo.out).toMatch(/round 20261101T0200Z support-intents: scored 1500, rejected 4, queued 120 \(12 audit\)/);
    expect(demo.out).toMatch(/merge support-intents: snapshot v2/);
    expect(demo.out).toMatch(/PSI \d\.\d{3}/);
    expect(demo.out).toMatch(/F1 \d\.\d{3}/);
    // The quality summary leads with audit estimates per model and round: intent-v2's audit has 11 of 12 right,
    // Wilson by hand: centre (0.9167 + 0.1601)/1.3201 = 0.8156, half-width 1.96·√(0.006366 + 0.006669)/1.3201 = 0.1695.
    const quality = demo.out.slice(demo.out.indexOf('model quality, estimated from the random audit slice'));
    expect(quality).toMatch(
      /^model quality, estimated from the random audit slice \(95% intervals, per model and round\):\n {2}support-intents \(snapshot v2\):\n {4}model intent-v1, round 20261101T0200Z: accuracy 1\.00 \[0\.76, 1\.00\], n = 12 audited\n {4}model intent-v2, round 20261108T0200Z: accuracy 0\.92 \[0\.65, 0\.99\], n = 12 audited\n {4}reviewed items, selected for doubt: not a quality estimate — /,
    );
    expect(quality).toMatch(/model ner-v2, round 20261108T0200Z: span f1 \d\.\d\d \[\d\.\d\d, \d\.\d\d\], n = 6 audited — LOW N/);
    expect(existsSync(path.join(dir, 'demo/report.html'))).toBe(true);
    // The segmentation project: one undecodable mask rejected, the round going on; IoU of the latest snapshot printed.
    expect(demo.out).toMatch(/round 20261101T0200Z part-defects: scored 40, rejected 1, queued 16 \(4 audit\)/);
    expect(demo.out).toMatch(/part-defects v2: mean IoU 0\.\d{3} \(dent 0\.\d{3}, scratch 0\.\d{3}\) over 32 items/);
    expect(readFileSync(path.join(dir, 'demo/report-part-defects.html'), 'utf8')).toContain('Segmentation IoU');
    expect(existsSync(path.join(dir, 'demo/data/support-intents/snapshots/v000002/data.arrow'))).toBe(true);
    // The label-issue round: injected flips imported, flagged, reviewed, and how many labels the reviewer changed.
    const li = /the simulated reviewer changed (\d+) of the (\d+) flagged labels reviewed/.exec(demo.out);
    expect(li).not.toBeNull();
    expect(Number(li![1])).toBeGreaterThan(0);
    expect(Number(li![1])).toBeLessThanOrEqual(Number(li![2]));
    expect(demo.out).toMatch(/support-labels: 2000 imported labels with \d+ injected flips/);
  });

  it('a second demo run changes nothing and says so', () => {
    const again = cli(['demo', '--dir', path.join(dir, 'demo')]);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('[already done]');
    expect(again.out).toContain('(nothing new)');
  });

  it('status, query and report work on the demo config', () => {
    const cfg = path.join(dir, 'demo/reviewloop.yaml');
    const status = cli(['status', '-c', cfg]);
    expect(status.code, status.err).toBe(0);
    expect(status.out).toMatch(/support-intents \(textcat/);
    expect(status.out).toMatch(/snapshot: v2/);
    expect(status.out).toContain(
      '  quality (audit estimates, 95% intervals, snapshot v2):\n    model intent-v1, round 20261101T0200Z: accuracy 1.00 [0.76, 1.00], n = 12 audited\n',
    );
    expect(status.out).toMatch(/reviewed items, selected for doubt: not a quality estimate/);
    const json = JSON.parse(cli(['status', '-c', cfg, '--json']).out);
    expect(json.projects.map((p: { project: string }) => p.project)).toEqual(['support-intents', 'contract-entities', 'part-defects', 'support-labels']);
    const intents = json.projects[0];
    expect(intents.quality.estimates[1]).toMatchObject({
      model: 'intent-v2',
      round_id: '20261108T0200Z',
      measure: 'accuracy',
      n_sample: 12,
      method: 'wilson score',
      flag: null,
    });
    expect(intents.quality.estimates[1].ci_low).toBeCloseTo(0.6461, 4);
    expect(intents.quality.estimates[1].ci_high).toBeCloseTo(0.9851, 4);
    expect(intents.quality.reviewed.note).toBe('reviewed items, selected for doubt: not a quality estimate');
    // 1–1 splits between the two reviewers under merge.conflict majority are conflicts, counted.
    expect(intents.conflicts).toBeGreaterThan(0);
    const q = cli(['query', '-c', cfg, 'SELECT project, count(*) AS n FROM rounds GROUP BY project ORDER BY project', '--json']);
    expect(q.code, q.err).toBe(0);
    expect(JSON.parse(q.out)).toEqual([
      { project: 'contract-entities', n: 2 },
      { project: 'part-defects', n: 2 },
      { project: 'support-intents', n: 2 },
      { project: 'support-labels', n: 1 },
    ]);
    const table = cli(['query', '-c', cfg, "SELECT round_id, items_queued FROM rounds WHERE project = 'support-intents' ORDER BY 1"]);
    expect(table.out).toMatch(/round_id\s+items_queued\n-+\s+-+\n20261101T0200Z\s+120/);
    const report = cli(['report', '-c', cfg, '--project', 'support-intents', '--out', path.join(dir, 'r.html')]);
    expect(report.code, report.err).toBe(0);
    expect(existsSync(path.join(dir, 'r.html'))).toBe(true);
  });

  it('runs a round and a merge by hand and is idempotent', () => {
    const cfg = path.join(dir, 'demo/reviewloop.yaml');
    const again = cli(['round', '-c', cfg, '--project', 'support-intents', '--round', '20261101T0200Z']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/round 20261101T0200Z already exists; nothing changed/);
    const merge = cli(['merge', '-c', cfg, '--project', 'contract-entities']);
    expect(merge.out).toMatch(/no new exports; snapshot stays at v2/);
    const manual = cli(['round', '-c', cfg, '--project', 'support-intents', '--round', 'relabel-1']);
    expect(manual.code, manual.err).toBe(0);
    expect(manual.out).toMatch(/round relabel-1 written: 0 queued/);
  });

  it('rejects a bad config with the path of the problem and exit code 78', () => {
    const cfg = path.join(dir, 'bad.yaml');
    writeFileSync(cfg, 'storage: {root: ./x}\nprojects:\n  - {name: p, task: textcat, labels: [a], strategy: {name: entropy, topK: 0}}\n');
    const r = cli(['round', '-c', cfg, '--round', 'r1']);
    expect(r.code).toBe(78);
    expect(r.err).toContain('projects[0].strategy.topK');
  });

  it('needs a round id when the project has no schedule (exit 2), and names missing projects', () => {
    const cfg = path.join(dir, 'nosched.yaml');
    writeFileSync(
      cfg,
      'storage: {root: ./x}\nstats: {sink: none}\nprojects:\n  - {name: p, task: textcat, labels: [a, b], strategy: {name: entropy, topK: 5}}\n',
    );
    expect(cli(['round', '-c', cfg]).code).toBe(2);
    const r = cli(['merge', '-c', cfg, '--project', 'nope']);
    expect(r.code).toBe(78);
    expect(r.err).toContain('no project "nope"');
  });
});
