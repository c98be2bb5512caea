/**
 * Every task type end to end on a local root: stage predictions, run a round,
 * answer the queue the way Prodigy's db-out writes it for that view, push it,
 * merge, then check the snapshot rows (all three formats) and the quality
 * stats in DuckDB. Numbers in the assertions are worked out by hand in comments.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseConfig } from '../../config/parse.js';
import type { ProjectConfig } from '../../config/schema.js';
import { pushAnnotations } from '../../worker/cli/commands/push-annotations.js';
import { exportRules } from '../../domain/prodigy/validate.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import type { SnapshotRow } from '../../domain/records.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { StatsSink } from '../../worker/stats/sinks/sink.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { duckdbSink, tempDir } from '../helpers/loop.js';

type Task = Record<string, any>;
const ROUND = '20261201T0200Z';
const T0 = 1_800_000_000;
const jsonl = (xs: unknown[]) => `${xs.map((x) => JSON.stringify(x)).join('\n')}\n`;
const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Task);

/** What `prodigy db-out` adds to an answered task. */
function answered(task: Task, who: string, i: number, answer: 'accept' | 'reject' | 'ignore', view: string, change: Task = {}): Task {
  return { ...task, ...change, _view_id: view, answer, _timestamp: T0 + i * 7, _annotator_id: `ds-${who}`, _session_id: `ds-${who}` };
}

/** A rectangle as image_manual exports it (id, color, center, type, points). */
function rect(label: string, x: number, y: number, width: number, height: number): Task {
  return {
    id: `${label}-${x}-${y}`,
    label,
    color: 'yellow',
    x,
    y,
    width,
    height,
    center: [x + width / 2, y + height / 2],
    type: 'rect',
    points: [
      [x, y],
      [x, y + height],
      [x + width, y + height],
      [x + width, y],
    ],
  };
}

describe('every task type through round → queue → db-out → merge → snapshot → stats', () => {
  let dir: string;
  let root: LocalStore;
  let pool: ScoringPool;
  let sink: StatsSink;

  beforeAll(async () => {
    dir = tempDir('task-types');
    root = new LocalStore(path.join(dir, 'root'));
    pool = new ScoringPool({ threads: 1 });
    sink = await duckdbSink(dir);
  });
  afterAll(async () => {
    await sink.close();
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const project = (p: Record<string, unknown>): ProjectConfig =>
    parseConfig({
      storage: { root: path.join(dir, 'root') },
      stats: { sink: 'none' },
      projects: [{ snapshot: { formats: ['arrow', 'jsonl', 'parquet'] }, ...p }],
    }).projects[0];

  async function roundOf(p: ProjectConfig, predictions: Record<string, unknown[]>): Promise<{ store: ObjectStore; queue: Task[] }> {
    const store = projectStore(root, p.name);
    for (const [name, recs] of Object.entries(predictions)) await store.write(`predictions/${name}`, jsonl(recs));
    await runRound({ project: p, store, pool, sink, roundId: ROUND, chunkBytes: 64 * 1024 });
    return { store, queue: lines(await store.read(`rounds/${ROUND}/queue.jsonl`)) };
  }

  async function mergeOf(p: ProjectConfig, store: ObjectStore, exports: Record<string, Task[]>): Promise<Map<string, SnapshotRow>> {
    for (const [name, xs] of Object.entries(exports)) {
      const pushed = await pushAnnotations(store, Buffer.from(jsonl(xs)), { round: ROUND, name, label: name, rules: exportRules(p) });
      expect(pushed).toMatchObject({ created: true, roundKnown: true, badLines: [] });
    }
    const m = await runMerge({ project: p, store, sink });
    expect(m.badLines).toEqual([]);
    const rows = rowsFromJsonl((await store.read(`snapshots/v${String(m.version).padStart(6, '0')}/data.jsonl`)).toString());
    return new Map(rows.map((r) => [r.id, r]));
  }

  const quality = (p: string, label: string) =>
    sink
      .query(
        "SELECT tp, fp, fn, precision_score AS p, recall_score AS r FROM label_quality WHERE project = @p AND label = @l AND scope = 'snapshot' AND slice = 'all'",
        { p, l: label },
      )
      .then((rs) => rs[0]);

  it('image-boxes: native pixel boxes and Vertex AI bboxes, polygons pass through, IoU ≥ 0.5 quality', async () => {
    const p = project({ name: 'boxes', task: 'image-boxes', labels: ['car', 'person'], strategy: { name: 'box-min', topK: 10 } });
    const store = projectStore(root, p.name);
    // v2's size comes from its object metadata; v3's object has none and is no image, so it cannot be queued.
    await store.write('images/v2.png', Buffer.from('png'), { metadata: { width: '400', height: '300' } });
    await store.write('images/v3.png', Buffer.from('png'));
    const vertex = (id: string, extra: Record<string, unknown>) => ({
      instance: { id, content: store.uri(`images/${id}.png`), mimeType: 'image/png', ...extra },
      prediction: { displayNames: ['car'], confidences: [0.6], bboxes: [[0.1, 0.3, 0.2, 0.6]] },
    });
    const { queue } = await roundOf(p, {
      'native.jsonl': [
        {
          id: 'b1',
          image: 'https://cdn/b1.jpg',
          width: 200,
          height: 100,
          boxes: [
            { x: 10, y: 10, w: 50, h: 40, label: 'car', score: 0.55 },
            { x: 100, y: 20, w: 30, h: 60, label: 'person', score: 0.9 },
          ],
        },
        { id: 'b2', image: 'https://cdn/b2.jpg', width: 200, height: 100, boxes: [{ x: 0, y: 0, w: 20, h: 20, label: 'car', score: 0.4 }] },
        {
          id: 'b3',
          image: 'https://cdn/b3.jpg',
          width: 200,
          height: 100,
          boxes: [
            {
              x: 10,
              y: 10,
              w: 40,
              h: 40,
              label: 'person',
              score: 0.3,
              points: [
                [10, 10],
                [50, 10],
                [50, 50],
                [30, 55],
                [10, 50],
              ],
            },
          ],
        },
      ],
      'vertex.jsonl': [vertex('v1', { width: 400, height: 300 }), vertex('v2', {}), vertex('v3', {})],
    });
    expect(queue.map((t) => t.meta.id).sort()).toEqual(['b1', 'b2', 'b3', 'v1', 'v2']);
    const rejects = lines(await store.read(`rounds/${ROUND}/rejects.jsonl`));
    expect(rejects).toEqual([expect.objectContaining({ id: 'v3', field: 'instance.content', reason: expect.stringContaining('cannot read the size') })]);
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    // [0.1, 0.3, 0.2, 0.6] on 400×300 → x 40, w 80, y 60, h 120, the same from the line and from the metadata.
    for (const id of ['v1', 'v2']) {
      expect(byId.get(id)).toMatchObject({
        width: 400,
        height: 300,
        spans: [
          {
            label: 'car',
            x: 40,
            y: 60,
            width: 80,
            height: 120,
            type: 'rect',
            points: [
              [40, 60],
              [40, 180],
              [120, 180],
              [120, 60],
            ],
          },
        ],
      });
    }
    expect(byId.get('b3')!.spans[0]).toMatchObject({
      type: 'polygon',
      points: [
        [10, 10],
        [50, 10],
        [50, 50],
        [30, 55],
        [10, 50],
      ],
    });

    const polygon = {
      id: 'poly',
      label: 'person',
      color: 'cyan',
      type: 'polygon',
      points: [
        [10, 10],
        [50, 10],
        [50, 50],
        [30, 55],
        [10, 50],
      ],
    };
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [
        answered(byId.get('b1')!, 'ann', 1, 'accept', 'image_manual', { spans: [rect('car', 10, 10, 50, 40), rect('person', 102, 22, 30, 60)] }),
        answered(byId.get('b2')!, 'ann', 2, 'accept', 'image_manual', { spans: [rect('person', 50, 50, 20, 20)] }),
        answered(byId.get('b3')!, 'ann', 3, 'accept', 'image_manual', { spans: [polygon] }),
        answered(byId.get('v1')!, 'ann', 4, 'accept', 'image_manual', { spans: [rect('car', 40, 60, 80, 120)] }),
        answered(byId.get('v2')!, 'ann', 5, 'accept', 'image_manual', { spans: [rect('car', 40, 60, 80, 120)] }),
      ],
    });
    expect(rows.get('b3')).toMatchObject({
      status: 'labelled',
      boxes: [{ label: 'person', points: polygon.points }],
      width: 200,
      height: 100,
      round: ROUND,
      annotators: ['ann'],
    });
    expect(rows.get('v2')).toMatchObject({ prediction: { boxes: [{ x: 40, y: 60, w: 80, h: 120, label: 'car', score: 0.6 }] } });
    // car: b1 TP, b2 FP (deleted), v1 + v2 TP → tp 3, fp 1. person: b1 moved (IoU 0.88) TP, b2 drawn FN, b3 polygon TP → tp 2, fn 1.
    expect(await quality('boxes', 'car')).toMatchObject({ tp: 3, fp: 1, fn: 0, p: 0.75, r: 1 });
    expect(await quality('boxes', 'person')).toMatchObject({ tp: 2, fp: 0, fn: 1, p: 1 });
    expect((await quality('boxes', 'person')).r).toBeCloseTo(2 / 3, 12);
  });

  it('image classification: a choice view over an image', async () => {
    const p = project({ name: 'pets', task: 'image', labels: ['cat', 'dog', 'bird'], strategy: { name: 'margin', topK: 10 } });
    const probs = (c: number, d: number) => ({ cat: c, dog: d, bird: Math.round((1 - c - d) * 100) / 100 });
    const { store, queue } = await roundOf(p, {
      'p.jsonl': [
        { id: 'i1', image: 'https://cdn/i1.jpg', probs: probs(0.5, 0.4) },
        { id: 'i2', image: 'https://cdn/i2.jpg', probs: probs(0.45, 0.44) },
        { id: 'i3', image: 'https://cdn/i3.jpg', probs: probs(0.6, 0.3) },
        { id: 'i4', image: 'https://cdn/i4.jpg', probs: probs(0.2, 0.3) },
      ],
    });
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect(byId.get('i4')).toMatchObject({ image: 'https://cdn/i4.jpg', options: [{ id: 'cat' }, { id: 'dog' }, { id: 'bird' }], accept: ['bird'] });
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [
        answered(byId.get('i1')!, 'ann', 1, 'accept', 'choice', { accept: ['cat'] }),
        answered(byId.get('i2')!, 'ann', 2, 'accept', 'choice', { accept: ['dog'] }),
        answered(byId.get('i3')!, 'ann', 3, 'ignore', 'choice'),
        answered(byId.get('i4')!, 'ann', 4, 'accept', 'choice', { accept: ['bird'] }),
      ],
    });
    expect([...rows.values()].map((r) => [r.id, r.status, r.label])).toEqual([
      ['i1', 'labelled', 'cat'],
      ['i2', 'labelled', 'dog'],
      ['i3', 'ignored', null],
      ['i4', 'labelled', 'bird'],
    ]);
    // i1 cat ✓, i2 cat ✗ (dog), i4 bird ✓; i3 ignored → micro tp 2, fp 1, fn 1.
    expect(await quality('pets', '*')).toMatchObject({ tp: 2, fp: 1, fn: 1 });
    // data.jsonl lines are Prodigy choice tasks again: the options the reviewer saw, the accepted ones, the answer.
    const lines = (await store.read('snapshots/v000001/data.jsonl'))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const i4 = lines.find((l) => l.meta.id === 'i4');
    expect(i4).toMatchObject({ image: 'https://cdn/i4.jpg', options: byId.get('i4')!.options, accept: ['bird'], answer: 'accept' });
    expect(rows.get('i4')!.options).toEqual(byId.get('i4')!.options);
  });

  it('audio: pre-annotated audio_spans corrected in audio_manual, regions matched by interval IoU', async () => {
    const p = project({ name: 'calls', task: 'audio', labels: ['speech', 'music', 'noise'], strategy: { name: 'entropy', topK: 10 } });
    const { store, queue } = await roundOf(p, {
      'a.jsonl': [
        {
          id: 'a1',
          audio: 'https://cdn/a1.wav',
          probs: { speech: 0.5, music: 0.3, noise: 0.2 },
          audio_spans: [
            { start: 0, end: 2.5, label: 'speech', score: 0.6 },
            { start: 3, end: 4, label: 'music', score: 0.4 },
          ],
        },
      ],
    });
    expect(queue[0]).toMatchObject({
      audio: 'https://cdn/a1.wav',
      audio_spans: [
        { start: 0, end: 2.5, label: 'speech' },
        { start: 3, end: 4, label: 'music' },
      ],
    });
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [
        answered(queue[0], 'ann', 1, 'accept', 'audio_manual', {
          audio_spans: [
            { id: 'r1', start: 0, end: 2.4, label: 'speech', color: 'red' },
            { id: 'r2', start: 5, end: 6, label: 'noise', color: 'blue' },
          ],
        }),
      ],
    });
    expect(rows.get('a1')).toMatchObject({
      status: 'labelled',
      audio: 'https://cdn/a1.wav',
      audio_spans: [
        { start: 0, end: 2.4, label: 'speech' },
        { start: 5, end: 6, label: 'noise' },
      ],
    });
    // speech IoU 2.4/2.5 ≥ 0.5 → TP; music deleted → FP; noise drawn → FN.
    expect(await quality('calls', 'speech')).toMatchObject({ tp: 1, fp: 0, fn: 0 });
    expect(await quality('calls', 'music')).toMatchObject({ tp: 0, fp: 1, fn: 0 });
    expect(await quality('calls', 'noise')).toMatchObject({ tp: 0, fp: 0, fn: 1 });
  });

  it('textcat-multilabel: multiple choice pre-filled over the threshold, split queues, review recipe adjudicates', async () => {
    const p = project({
      name: 'tickets',
      task: 'textcat-multilabel',
      labels: ['urgent', 'refund', 'complaint'],
      strategy: { name: 'multilabel-entropy', topK: 10 },
      queue: { annotators: ['ann', 'bob'], overlap: 2, acceptThreshold: 0.4 },
      merge: { conflict: 'unanimous' },
    });
    const { store, queue } = await roundOf(p, {
      'm.jsonl': [
        { id: 'm1', text: 'Refund me now!', probs: { urgent: 0.45, refund: 0.8, complaint: 0.1 } },
        { id: 'm2', text: 'Still no refund, this is awful.', probs: { urgent: 0.3, refund: 0.6, complaint: 0.5 } },
      ],
    });
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect(byId.get('m1')).toMatchObject({ accept: ['urgent', 'refund'], config: { choice_style: 'multiple' } });
    expect(byId.get('m2')!.accept).toEqual(['refund', 'complaint']);
    // Overlap 2 of 2: both reviewers get every task, in queue order, and a rerun writes the same split.
    const split = await Promise.all(['ann', 'bob'].map((a) => store.read(`rounds/${ROUND}/queue-${a}.jsonl`)));
    for (const b of split) expect(lines(b)).toEqual(queue);
    await store.delete(`rounds/${ROUND}/manifest.json`);
    await runRound({ project: p, store, pool, sink: null, roundId: ROUND, chunkBytes: 999 });
    for (const [i, a] of ['ann', 'bob'].entries()) expect((await store.read(`rounds/${ROUND}/queue-${a}.jsonl`)).equals(split[i])).toBe(true);

    const m2 = byId.get('m2')!;
    const ann2 = answered(m2, 'ann', 2, 'accept', 'choice', { accept: ['refund', 'complaint'] });
    const bob2 = answered(m2, 'bob', 2, 'accept', 'choice', { accept: ['complaint'] });
    // Prodigy's review recipe: the reviewer's final answer on top, the competing versions with their sessions below.
    const version = (t: Task, taskHash: number, def: boolean) => ({ ...t, _task_hash: taskHash, sessions: [t._session_id], default: def });
    const review = {
      ...m2,
      accept: ['complaint', 'refund'],
      answer: 'accept',
      _view_id: 'review',
      view_id: 'choice',
      _timestamp: T0 + 100,
      _session_id: 'tickets_final-carol',
      _annotator_id: 'tickets_final-carol',
      sessions: ['ds-ann', 'ds-bob'],
      versions: [version(ann2, 11, true), version(bob2, 12, false)],
    };
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [answered(byId.get('m1')!, 'ann', 1, 'accept', 'choice', { accept: ['refund'] }), ann2],
      'bob.jsonl': [answered(byId.get('m1')!, 'bob', 1, 'accept', 'choice', { accept: ['refund'] }), bob2],
      'review.jsonl': [review],
    });
    expect(rows.get('m1')).toMatchObject({ status: 'labelled', labels: ['refund'], label: 'refund', annotators: ['ann', 'bob'] });
    // Without the review the unanimous policy would leave m2 a conflict; the adjudicated answer decides.
    expect(rows.get('m2')).toMatchObject({ status: 'labelled', labels: ['complaint', 'refund'], label: null, annotators: ['ann', 'bob', 'carol'] });
    expect(rows.get('m2')!.answers.filter((a) => a.adjudicated)).toHaveLength(1);
    // Predicted at 0.5: m1 {refund}, m2 {refund, complaint} → all three decisions right.
    expect(await quality('tickets', '*')).toMatchObject({ tp: 3, fp: 0, fn: 0 });
    const kappa = await sink.query(
      "SELECT items FROM annotator_agreement WHERE project = 'tickets' AND metric = 'cohen' AND annotator_a = 'ann' AND annotator_b = 'bob'",
    );
    expect(kappa).toEqual([{ items: 2 }]);
  });

  it('ner: Vertex AI entity extraction converted to spans, corrected in ner_manual, exact-match quality', async () => {
    const p = project({ name: 'contracts', task: 'ner', labels: ['ORG', 'PERSON', 'DATE'], strategy: { name: 'span-min', topK: 10 } });
    const t1 = 'Acme Corp hired Jane Doe in May.';
    const t2 = 'Acme sued Bob.';
    const vx = (id: string, content: string, names: string[], conf: number[], starts: number[], ends: number[]) => ({
      instance: { id, content, mimeType: 'text/plain' },
      prediction: { displayNames: names, confidences: conf, textSegmentStartOffsets: starts.map(String), textSegmentEndOffsets: ends.map(String) },
    });
    const { store, queue } = await roundOf(p, {
      'vertex.jsonl': [vx('n1', t1, ['ORG', 'PERSON'], [0.6, 0.5], [0, 16], [9, 24]), vx('n2', t2, ['PERSON'], [0.4], [0], [4])],
    });
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect(byId.get('n1')).toMatchObject({
      text: t1,
      spans: [
        { start: 0, end: 9, label: 'ORG', token_start: 0, token_end: 1 },
        { start: 16, end: 24, label: 'PERSON', token_start: 3, token_end: 4 },
      ],
    });
    const span = (start: number, end: number, label: string, ts: number, te: number) => ({ start, end, label, token_start: ts, token_end: te });
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [
        answered(byId.get('n1')!, 'ann', 1, 'accept', 'ner_manual', {
          _is_binary: false,
          spans: [span(0, 9, 'ORG', 0, 1), span(16, 24, 'PERSON', 3, 4), span(28, 31, 'DATE', 6, 6)],
        }),
        answered(byId.get('n2')!, 'ann', 2, 'accept', 'ner_manual', { _is_binary: false, spans: [span(0, 4, 'ORG', 0, 0), span(10, 13, 'PERSON', 2, 2)] }),
      ],
    });
    expect(rows.get('n1')).toMatchObject({
      status: 'labelled',
      tokens: expect.any(Array),
      prediction: {
        spans: [
          { start: 0, end: 9, label: 'ORG', score: 0.6 },
          { start: 16, end: 24, label: 'PERSON', score: 0.5 },
        ],
      },
    });
    // ORG: n1 ✓, n2 missed → tp 1, fn 1. PERSON: n1 ✓, n2 0:4 wrong (FP) and 10:13 missed (FN). DATE: missed.
    expect(await quality('contracts', 'ORG')).toMatchObject({ tp: 1, fp: 0, fn: 1 });
    expect(await quality('contracts', 'PERSON')).toMatchObject({ tp: 1, fp: 1, fn: 1 });
    expect(await quality('contracts', 'DATE')).toMatchObject({ tp: 0, fp: 0, fn: 1 });
  });

  it('textcat binary: one label per task (the model top label), accept confirms, reject is a negative', async () => {
    const p = project({
      name: 'binary',
      task: 'textcat',
      labels: ['billing', 'shipping'],
      strategy: { name: 'least-confidence', topK: 10 },
      queue: { view: 'classification' },
    });
    const { store, queue } = await roundOf(p, {
      't.jsonl': [
        { id: 't1', text: 'Invoice is wrong', probs: { billing: 0.6, shipping: 0.4 } },
        { id: 't2', text: 'Where is my invoice?', probs: { billing: 0.45, shipping: 0.55 } },
        { id: 't3', text: 'Charged twice', probs: { billing: 0.7, shipping: 0.3 } },
      ],
    });
    const byId = new Map(queue.map((t) => [t.meta.id as string, t]));
    expect(queue.every((t) => t.options === undefined && t.accept === undefined)).toBe(true);
    expect([...byId.values()].map((t) => [t.meta.id, t.label]).sort()).toEqual([
      ['t1', 'billing'],
      ['t2', 'shipping'],
      ['t3', 'billing'],
    ]);
    const rows = await mergeOf(p, store, {
      'ann.jsonl': [
        answered(byId.get('t1')!, 'ann', 1, 'accept', 'classification'),
        answered(byId.get('t2')!, 'ann', 2, 'reject', 'classification'),
        answered(byId.get('t3')!, 'ann', 3, 'accept', 'classification'),
      ],
    });
    expect(rows.get('t1')).toMatchObject({ status: 'labelled', label: 'billing', negatives: [] });
    expect(rows.get('t2')).toMatchObject({ status: 'negative-only', label: null, labels: [], negatives: ['shipping'] });
    // billing: t1, t3 confirmed → precision 1; shipping: t2 rejected → one FP, no gold.
    expect(await quality('binary', 'billing')).toMatchObject({ tp: 2, fp: 0, p: 1 });
    expect(await quality('binary', 'shipping')).toMatchObject({ tp: 0, fp: 1, p: 0 });
    // data.jsonl gives `prodigy db-in` the binary task back: the label and the reject.
    const line = lines(await store.read('snapshots/v000001/data.jsonl')).find((l) => l.meta.id === 't2')!;
    expect(line).toMatchObject({
      text: 'Where is my invoice?',
      label: 'shipping',
      answer: 'reject',
      _input_hash: expect.any(Number),
      _task_hash: expect.any(Number),
    });
  });

  it('snapshots read back the same from data.jsonl, data.arrow (apache-arrow) and data.parquet (DuckDB)', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      for (const name of ['boxes', 'pets', 'calls', 'tickets', 'contracts', 'binary']) {
        const store = projectStore(root, name);
        const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
        const table = tableFromIPC(await store.read('snapshots/v000001/data.arrow'));
        const file = path.join(dir, 'root', name, 'snapshots', 'v000001', 'data.parquet');
        const reader = await conn.runAndReadAll(
          `SELECT id, task, label, labels, negatives, status, round, prediction_source, annotators, answered_at, boxes_json, audio_spans_json, spans_json, input_hash FROM read_parquet('${file}') ORDER BY id`,
        );
        const pq = reader.getRowObjectsJS();
        expect(table.numRows, name).toBe(rows.length);
        expect(pq.length, name).toBe(rows.length);
        rows.forEach((r, i) => {
          const a = table.get(i)!.toJSON();
          const fromArrow = {
            id: a.id,
            label: a.label,
            labels: [...(a.labels ?? [])],
            status: a.status,
            annotators: [...(a.annotators ?? [])],
            answered_at: a.answered_at,
            boxes: a.boxes_json === null ? null : JSON.parse(a.boxes_json as string),
            input_hash: a.input_hash,
          };
          const d = pq[i];
          const fromDuck = {
            id: d.id,
            label: d.label,
            labels: d.labels,
            status: d.status,
            annotators: d.annotators,
            answered_at: d.answered_at,
            boxes: d.boxes_json === null ? null : JSON.parse(d.boxes_json as string),
            input_hash: d.input_hash,
          };
          const want = {
            id: r.id,
            label: r.label,
            labels: r.labels,
            status: r.status,
            annotators: r.annotators,
            answered_at: r.answered_at,
            boxes: r.boxes,
            input_hash: r.input_hash,
          };
          expect(fromArrow, `${name} ${r.id} arrow`).toEqual(want);
          expect(fromDuck, `${name} ${r.id} parquet`).toEqual(want);
          expect(d.round).toBe(ROUND);
          expect(d.prediction_source).toMatch(/predictions\/.+#L\d+$/);
        });
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
