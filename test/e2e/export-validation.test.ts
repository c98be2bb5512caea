/**
 * Reviewers' exports through the CLI as a user runs it, on a local root:
 * push-annotations refuses a file with wrong answers (listing every line,
 * uploading nothing); merge rejects such lines when they arrive another way,
 * quarantines exports it cannot read without stopping the others, and never
 * reads a quarantined (name, generation) again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, REVIEWLOOP_DEBUG: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const TEXT72 = 'The blender arrived broken and I want to send it back for a full refund!';
const OPTIONS = ['billing', 'shipping', 'returns'].map((id) => ({ id, text: id }));
/** A choice-view answer shaped like Prodigy's db-out lines (test/fixtures/prodigy/choice_entity_links.jsonl), with a named session. */
function answer(id: string, accept: string[], session: string | null, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    text: `${TEXT72} (${id})`,
    options: OPTIONS,
    meta: { id },
    _input_hash: id.length * 7919,
    _task_hash: id.length * 104729,
    _view_id: 'choice',
    accept,
    answer: 'accept',
    _timestamp: 1764748800 + id.length,
    ...(session ? { _session_id: `support_intents-${session}`, _annotator_id: `support_intents-${session}` } : { _session_id: null }),
    ...extra,
  });
}
const imageBoxes = JSON.stringify({
  image: 'gs://bucket/img/0001.jpg',
  width: 640,
  height: 480,
  _input_hash: 5,
  _task_hash: 6,
  _view_id: 'image_manual',
  answer: 'accept',
  spans: [
    {
      label: 'car',
      points: [
        [10, 10],
        [200, 10],
        [200, 90],
        [10, 90],
      ],
      type: 'rect',
    },
  ],
});

describe('exports checked against the project, per line and per file', () => {
  let dir: string;
  let cfg: string;
  let annotations: string;
  const snapshot = (v: number, file: string) => readFileSync(path.join(dir, 'root/support-intents/snapshots', `v${String(v).padStart(6, '0')}`, file), 'utf8');
  const status = () =>
    JSON.parse(cli(['status', '-c', cfg, '--json']).out) as {
      projects: Array<{ pendingExports: string[]; quarantinedExports: Array<{ name: string; reason: string }> }>;
    };

  beforeAll(() => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'rl-exports-'));
    cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      [
        'storage: { root: ./root }',
        'stats: { sink: none }',
        'projects:',
        '  - name: support-intents',
        '    task: textcat',
        '    labels: [billing, shipping, returns]',
        '    strategy: { name: entropy, topK: 5 }',
        '    queue: { annotators: [alice, bob], overlap: 1 }',
        '    merge: { conflict: majority }',
        '',
      ].join('\n'),
    );
    annotations = path.join(dir, 'root/support-intents/annotations/r1');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('push-annotations refuses wrong answers, naming every line, and uploads nothing', () => {
    const file = path.join(dir, 'alice.jsonl');
    writeFileSync(
      file,
      [
        answer('t1', ['billing'], 'alice'),
        answer('t2', ['NOT_A_LABEL'], 'alice'),
        answer('t3', ['returns'], 'alice', { _timestamp: 1e300 }),
        imageBoxes,
        answer('t5', ['shipping'], 'alice', { spans: [{ start: 0, end: 1e9, label: 'shipping' }], _view_id: 'ner_manual' }),
        '',
      ].join('\n'),
    );
    const r = cli(['push-annotations', file, '--round', 'r1', '--allow-unknown-round', '-c', cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('4 bad line(s), nothing uploaded');
    for (const [line, field] of [
      [2, 'accept[0]'],
      [3, '_timestamp'],
      [4, 'image'],
      [5, 'spans[0]'],
    ] as const)
      expect(r.err).toContain(`${file} line ${line}: ${field}:`);
    expect(existsSync(annotations)).toBe(false);
  });

  it('merge rejects the same lines when the file arrives another way, counts a repeated line once, and names reviewers by session', () => {
    mkdirSync(annotations, { recursive: true });
    const repeated = answer('t1', ['billing'], 'alice');
    writeFileSync(
      path.join(annotations, 'dataset.jsonl'),
      [
        repeated,
        repeated,
        answer('t1', ['shipping'], 'bob'),
        answer('t2', ['NOT_A_LABEL'], 'alice'),
        answer('t3', ['returns'], 'alice', { _timestamp: 1e300 }),
        imageBoxes,
        '',
      ].join('\n'),
    );
    const m = cli(['merge', '-c', cfg]);
    expect(m.code, m.err).toBe(0);
    const manifest = JSON.parse(snapshot(1, 'manifest.json'));
    expect(manifest.counts).toMatchObject({ answers: 2, duplicates: 1, badLines: 3 });
    const rejects = snapshot(1, 'rejects.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(rejects.map((x) => [x.object, x.line, x.field])).toEqual([
      ['annotations/r1/dataset.jsonl', 4, 'accept[0]'],
      ['annotations/r1/dataset.jsonl', 5, '_timestamp'],
      ['annotations/r1/dataset.jsonl', 6, 'image'],
    ]);
    const rows = snapshot(1, 'data.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).reviewloop);
    // One alice vote and one bob vote: a tie, not a two-to-one majority for billing.
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 't1', annotators: ['alice', 'bob'] });
    expect(rows[0].answers).toHaveLength(2);
  });

  it('merge quarantines exports it cannot read, merges the rest, and never reads the same generation again', () => {
    const gz = gzipSync(Buffer.from(`${answer('t7', ['returns'], 'bob')}\n`.repeat(50)));
    writeFileSync(path.join(annotations, 'truncated.jsonl.gz'), gz.subarray(0, gz.length - 30));
    writeFileSync(path.join(annotations, 'not-gzip.jsonl.gz'), Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('plain text, not deflate')]));
    writeFileSync(path.join(annotations, 'bob.jsonl'), `${answer('t8', ['returns'], 'bob')}\n`);
    const m = cli(['merge', '-c', cfg]);
    expect(m.code, m.err).toBe(0);
    expect(m.err).toMatch(/quarantined annotations\/r1\/not-gzip\.jsonl\.gz .*cannot decompress/);
    expect(m.err).toMatch(/quarantined annotations\/r1\/truncated\.jsonl\.gz .*cannot decompress/);
    const manifest = JSON.parse(snapshot(2, 'manifest.json'));
    expect(manifest.consumed.map((c: { name: string }) => c.name)).toEqual(['annotations/r1/bob.jsonl']);
    expect(manifest.quarantined.map((q: { name: string }) => q.name)).toEqual(['annotations/r1/not-gzip.jsonl.gz', 'annotations/r1/truncated.jsonl.gz']);
    const rejects = snapshot(2, 'rejects.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(rejects.map((x) => [x.object, x.line, x.field])).toEqual([
      ['annotations/r1/not-gzip.jsonl.gz', 0, '(object)'],
      ['annotations/r1/truncated.jsonl.gz', 0, '(object)'],
    ]);
    const s = status().projects[0];
    expect(s.pendingExports).toEqual([]);
    expect(s.quarantinedExports.map((q) => q.name)).toEqual(['annotations/r1/not-gzip.jsonl.gz', 'annotations/r1/truncated.jsonl.gz']);
    expect(cli(['merge', '-c', cfg]).out).toMatch(/no new exports; snapshot stays at v2/);
  });

  it('records a quarantine when nothing else is new, lists it in the next snapshot, and reads a new generation again', () => {
    writeFileSync(path.join(annotations, 'late.jsonl.gz'), Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
    const m = cli(['merge', '-c', cfg]);
    expect(m.code, m.err).toBe(0);
    expect(m.out).toMatch(/no new exports; snapshot stays at v2/);
    expect(status().projects[0].quarantinedExports.map((q) => q.name)).toContain('annotations/r1/late.jsonl.gz');
    expect(cli(['status', '-c', cfg]).out).toMatch(/quarantined export: annotations\/r1\/late\.jsonl\.gz \(generation \d+\): cannot decompress/);

    // A fixed export under the same name is a new generation: read and merged; the quarantine shows in v3.
    writeFileSync(path.join(annotations, 'late.jsonl.gz'), gzipSync(Buffer.from(`${answer('t9', ['billing'], 'alice')}\n`)));
    const again = cli(['merge', '-c', cfg]);
    expect(again.code, again.err).toBe(0);
    const manifest = JSON.parse(snapshot(3, 'manifest.json'));
    expect(manifest.consumed.map((c: { name: string }) => c.name)).toEqual(['annotations/r1/late.jsonl.gz']);
    expect(manifest.quarantined.map((q: { name: string }) => q.name)).toEqual(['annotations/r1/late.jsonl.gz']);
    expect(manifest.counts.answers).toBe(1);
  });

  it('push-annotations --name names the reviewer of answers from an unnamed session', () => {
    const file = path.join(dir, 'export.jsonl');
    writeFileSync(file, `${answer('t10', ['shipping'], null)}\n`);
    const r = cli(['push-annotations', file, '--round', 'r1', '--allow-unknown-round', '-c', cfg, '--name', 'carol']);
    expect(r.code, r.err).toBe(0);
    expect(cli(['merge', '-c', cfg]).code).toBe(0);
    const rows = snapshot(4, 'data.jsonl')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).reviewloop);
    expect(rows.find((x) => x.id === 't10')).toMatchObject({ annotators: ['carol'], status: 'labelled', label: 'shipping' });
  });
});
