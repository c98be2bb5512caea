import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NORMALIZED_BOXES_FLAG, normalizeRecord, type NormalizeOptions } from '../../scoring/normalize.js';
import type { ScoredEntry } from '../../scoring/types.js';
import { resolveImageSizes, storeImageSize } from '../../worker/media/box-sizes.js';
import { main } from '../../worker/cli/main.js';
import { exportObjectName, pushAnnotations } from '../../worker/cli/commands/push-annotations.js';
import { isReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { parseExportLine } from '../../domain/prodigy/exports.js';
import type { ExportRules } from '../../domain/prodigy/validate.js';
import { buildTask, type QueueItem, type TaskContext } from '../../domain/prodigy/tasks.js';
import { resolveAnswers } from '../../domain/prodigy/resolve.js';
import { prodigyLine } from '../../worker/snapshot/snapshot-files.js';
import { evaluateRow } from '../../domain/quality/compute.js';
import { intervalIoU, matchByIoU, precisionRecallF1, rectIoU } from '../../domain/quality/measures.js';
import { row } from '../fixtures/stats-sample.js';

describe('IoU matching', () => {
  it('computes rectangle and interval IoU', () => {
    expect(rectIoU({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(50 / 150, 12);
    expect(rectIoU({ x: 0, y: 0, width: 10, height: 10 }, { x: 10, y: 0, width: 10, height: 10 })).toBe(0);
    expect(rectIoU({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 0, width: 0, height: 0 })).toBe(0);
    expect(intervalIoU({ start: 0, end: 2 }, { start: 1, end: 3 })).toBeCloseTo(1 / 3, 12);
  });

  it('matches one-to-one, best IoU first, same label only, at IoU ≥ 0.5 inclusive', () => {
    const iv = (start: number, end: number, label = 'a') => ({ start, end, label });
    // p0–g0 IoU 0.9, p1–g0 0.75, p1–g1 0.4: p0 takes g0 (best), p1 is left unmatched.
    const m = matchByIoU([iv(0, 10), iv(1, 10.6)], [iv(0, 9), iv(5, 15)], intervalIoU);
    expect(m.matched).toBe(1);
    expect(m.predicted.map((p) => p.key)).toEqual(['m0:0', 'p1']);
    expect(m.gold.map((g) => g.key)).toEqual(['m0:0', 'g1']);
    expect(matchByIoU([iv(0, 2)], [iv(1, 3)], intervalIoU).matched).toBe(0); // IoU 1/3
    expect(matchByIoU([iv(0, 2)], [iv(0, 1)], intervalIoU).matched).toBe(1); // IoU exactly 0.5
    expect(matchByIoU([iv(0, 2, 'a')], [iv(0, 2, 'b')], intervalIoU).matched).toBe(0);
    const prf = precisionRecallF1([{ predicted: m.predicted, gold: m.gold }]);
    expect(prf[prf.length - 1]).toMatchObject({ tp: 1, fp: 1, fn: 1 });
  });
});

describe('evaluateRow for the other task types', () => {
  const labelled = { status: 'labelled' as const };
  it('image-boxes: IoU ≥ 0.5 within a label, polygons by their bounding box', () => {
    const r = {
      ...row('b', {}, null, []),
      ...labelled,
      task: 'image-boxes' as const,
      prediction: {
        boxes: [
          { x: 0, y: 0, w: 10, h: 10, label: 'car' },
          { x: 50, y: 50, w: 10, h: 10, label: 'car' },
        ],
      },
      boxes: [
        { label: 'car', x: 1, y: 1, width: 10, height: 10 },
        {
          label: 'car',
          points: [
            [50, 50],
            [60, 50],
            [55, 61],
          ],
        },
        { label: 'person', x: 0, y: 0, width: 5, height: 5 },
      ],
    };
    const e = evaluateRow(r, 'image-boxes')!;
    expect(e.same).toBe(false);
    const prf = precisionRecallF1([e.item], ['car', 'person']);
    expect(prf.map((p) => [p.label, p.tp, p.fp, p.fn])).toEqual([
      ['car', 2, 0, 0],
      ['person', 0, 0, 1],
      [null, 2, 0, 1],
    ]);
    expect(evaluateRow({ ...r, boxes: r.boxes.slice(0, 2) }, 'image-boxes')!.same).toBe(true);
    expect(evaluateRow({ ...r, prediction: {} }, 'image-boxes')).toBeNull();
  });
  it('audio: regions by interval IoU when answered in audio_manual, else clip classification', () => {
    const base = { ...row('a', { speech: 0.7, music: 0.3 }, null, []), ...labelled, task: 'audio' as const };
    const regions = {
      ...base,
      prediction: { probs: { speech: 0.7, music: 0.3 }, audio_spans: [{ start: 0, end: 2, label: 'speech' }] },
      audio_spans: [{ start: 0.1, end: 2, label: 'speech' }],
    };
    expect(evaluateRow(regions, 'audio')).toMatchObject({ same: true, item: { predicted: [{ key: 'm0:0' }] } });
    expect(evaluateRow({ ...base, label: 'music', labels: ['music'] }, 'audio')).toMatchObject({ same: false, top: 'speech', confidence: 0.7 });
  });
  it('binary textcat: a rejected top label is a false positive; a rejected other label says nothing', () => {
    const base = { ...row('t', { billing: 0.6, shipping: 0.4 }, null, []), status: 'negative-only' as const, label: null, labels: [] };
    expect(evaluateRow({ ...base, negatives: ['billing'] }, 'textcat')).toMatchObject({
      same: false,
      item: { predicted: [{ label: 'billing' }], gold: [] },
      confidence: 0.6,
    });
    expect(evaluateRow({ ...base, negatives: ['shipping'] }, 'textcat')).toBeNull();
  });
});

const entry = (rec: ScoredEntry['record']): QueueItem => ({
  entry: { id: rec.id, score: 0.5, u: 0.1, source: { object: 'file:///p.jsonl', line: 1 }, record: rec },
  rank: 1,
  audit: false,
});
const ctx = (over: Partial<TaskContext>): TaskContext => ({
  project: 'p',
  round: 'R',
  task: 'textcat',
  view: 'choice',
  labels: ['a', 'b', 'c'],
  strategy: 'entropy',
  acceptThreshold: 0.5,
  ...over,
});

describe('queue tasks per view', () => {
  it('classification: one label (the top one), no options, task hash tied to the label', () => {
    const t = buildTask(ctx({ view: 'classification' }), entry({ id: 'x', text: 't', probs: { a: 0.2, b: 0.5, c: 0.3 } }));
    expect(t).toMatchObject({ text: 't', label: 'b' });
    expect(t.options).toBeUndefined();
    const other = buildTask(ctx({ view: 'classification' }), entry({ id: 'x', text: 't', probs: { a: 0.6, b: 0.1, c: 0.3 } }));
    expect(other._task_hash).not.toBe(t._task_hash);
  });
  it('multi-label choice: config.choice_style multiple, accept pre-filled at or above the threshold', () => {
    const t = buildTask(ctx({ task: 'textcat-multilabel', acceptThreshold: 0.3 }), entry({ id: 'x', text: 't', probs: { a: 0.3, b: 0.9, c: 0.29 } }));
    expect(t).toMatchObject({ accept: ['a', 'b'], config: { choice_style: 'multiple' }, options: [{ id: 'a' }, { id: 'b' }, { id: 'c' }] });
  });
  it('image_manual: rectangles with corner points in Prodigy order, polygons as given', () => {
    const t = buildTask(
      ctx({ task: 'image-boxes', view: 'image_manual' }),
      entry({
        id: 'i',
        image: 'https://cdn/i.jpg',
        width: 64,
        height: 32,
        boxes: [
          { x: 1, y: 2, w: 3, h: 4, label: 'a', score: 0.4 },
          {
            x: 0,
            y: 0,
            w: 4,
            h: 4,
            label: 'b',
            points: [
              [0, 0],
              [4, 0],
              [2, 4],
            ],
          },
        ],
      }),
    );
    expect(t).toMatchObject({ image: 'https://cdn/i.jpg', width: 64, height: 32 });
    expect(t.spans).toEqual([
      {
        label: 'a',
        x: 1,
        y: 2,
        width: 3,
        height: 4,
        points: [
          [1, 2],
          [1, 6],
          [4, 6],
          [4, 2],
        ],
        type: 'rect',
      },
      {
        label: 'b',
        x: 0,
        y: 0,
        width: 4,
        height: 4,
        points: [
          [0, 0],
          [4, 0],
          [2, 4],
        ],
        type: 'polygon',
      },
    ]);
  });
  it('audio_manual: audio URL and pre-annotated audio_spans in seconds', () => {
    const t = buildTask(
      ctx({ task: 'audio', view: 'audio_manual' }),
      entry({ id: 'a', audio: 'https://cdn/a.wav', audio_spans: [{ start: 0.5, end: 1.25, label: 'a', score: 0.3 }] }),
    );
    expect(t).toMatchObject({ audio: 'https://cdn/a.wav', audio_spans: [{ start: 0.5, end: 1.25, label: 'a' }] });
  });
});

describe('Vertex AI inputs', () => {
  const o = (over: Partial<NormalizeOptions>): NormalizeOptions => ({
    task: 'ner',
    labels: ['ORG', 'PERSON'],
    labelSet: new Set(['ORG', 'PERSON']),
    probTolerance: 1e-3,
    format: 'auto',
    ...over,
  });
  it('converts entity extraction offsets (strings, as Vertex writes int64) to spans', () => {
    const r = normalizeRecord(
      {
        instance: { id: 'd1', content: 'Acme hired Jane.', mimeType: 'text/plain' },
        prediction: { displayNames: ['ORG', 'PERSON'], confidences: [0.9, 0.4], textSegmentStartOffsets: ['0', '11'], textSegmentEndOffsets: ['4', '15'] },
      },
      o({}),
    );
    expect(r).toMatchObject({
      ok: true,
      record: {
        id: 'd1',
        text: 'Acme hired Jane.',
        spans: [
          { start: 0, end: 4, label: 'ORG', score: 0.9 },
          { start: 11, end: 15, label: 'PERSON', score: 0.4 },
        ],
      },
    });
    const bad = normalizeRecord(
      {
        instance: { id: 'd2', content: 'short' },
        prediction: { displayNames: ['ORG'], confidences: [0.9], textSegmentStartOffsets: ['0'], textSegmentEndOffsets: ['40'] },
      },
      o({}),
    );
    expect(bad).toMatchObject({ ok: false, field: 'prediction(spans[0])' });
  });
  it('keeps bboxes as fractions when only the image object can tell the size; refuses without a URI', () => {
    const b = o({ task: 'image-boxes', labels: ['car'], labelSet: new Set(['car']) });
    const pred = { displayNames: ['car'], confidences: [0.6], bboxes: [[0.1, 0.5, 0.2, 0.8]] };
    const r = normalizeRecord({ instance: { content: 'gs://b/i.jpg', mimeType: 'image/jpeg' }, prediction: pred }, b);
    expect(r).toMatchObject({ ok: true, record: { boxes: [{ x: 0.1, y: 0.2, label: 'car' }], meta: { [NORMALIZED_BOXES_FLAG]: true } } });
    expect(normalizeRecord({ instance: { id: 'x', content: 'not-a-uri' }, prediction: pred }, b)).toMatchObject({ ok: false, field: 'instance.width' });
  });
});

describe('resolveImageSizes and storeImageSize', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-sizes-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads width/height metadata of images in the store, converts fractions, drops what has no size', async () => {
    const store = new LocalStore(dir);
    await store.write('img/a b.png', 'x', { metadata: { width: '200', height: '100' } });
    await store.write('img/n.png', 'x');
    const hook = storeImageSize(store);
    expect(await hook(store.uri('img/a b.png'))).toEqual({ width: 200, height: 100 });
    expect(await hook(store.uri('img/n.png'))).toBeNull();
    expect(await hook('https://elsewhere/a.png')).toBeNull();
    const item = (id: string, image: string): QueueItem => ({
      ...entry({ id, image, boxes: [{ x: 0.1, y: 0.2, w: 0.5, h: 0.5, label: 'car' }], meta: { [NORMALIZED_BOXES_FLAG]: true } }),
      audit: id === 'n',
    });
    const sel = {
      items: [item('a', store.uri('img/a b.png')), item('n', store.uri('img/n.png')), entry({ id: 'px', image: 'x', width: 5, height: 5, boxes: [] })],
      auditCount: 1,
    };
    const rejects: unknown[] = [];
    await resolveImageSizes(sel, hook, (r) => rejects.push(r));
    expect(sel.items.map((i) => i.entry.id)).toEqual(['a', 'px']);
    expect(sel.auditCount).toBe(0);
    expect(sel.items[0].entry.record).toMatchObject({ width: 200, height: 100, boxes: [{ x: 20, y: 20, w: 100, h: 50 }], meta: {} });
    expect(rejects).toEqual([expect.objectContaining({ id: 'n', field: 'instance.content', object: 'file:///p.jsonl', line: 1 })]);
  });
});

describe('Prodigy exports of the other views', () => {
  it('reads a review-recipe line (versions with sessions) as one adjudicated answer in the reviewed view', () => {
    const version = (session: string, spans: unknown[], def: boolean) => ({
      text: 'Acme hired Jane.',
      spans,
      _input_hash: 5,
      _task_hash: def ? 1 : 2,
      _session_id: session,
      _view_id: 'ner_manual',
      answer: 'accept',
      sessions: [session],
      default: def,
    });
    const line = {
      text: 'Acme hired Jane.',
      spans: [{ start: 0, end: 4, token_start: 0, token_end: 0, label: 'ORG' }],
      _input_hash: 5,
      _task_hash: 1,
      meta: { id: 'd1' },
      _session_id: null,
      _view_id: 'review',
      answer: 'accept',
      sessions: ['ds-ann', 'ds-bob'],
      versions: [version('ds-ann', [{ start: 0, end: 4, label: 'ORG' }], true), version('ds-bob', [], false)],
      view_id: 'ner_manual',
    };
    const r = parseExportLine(JSON.stringify(line), 'annotations/R/review.jsonl', 3);
    expect(r).toMatchObject({
      ok: true,
      value: {
        id: 'd1',
        answer: { adjudicated: true, view: 'ner_manual', annotator: null, spans: [{ start: 0, end: 4, label: 'ORG', token_start: 0, token_end: 0 }] },
      },
    });
    // With a plain answer that disagrees, the adjudicated one still decides, whatever the policy.
    const plain = parseExportLine(JSON.stringify({ ...version('ds-bob', [], false), meta: { id: 'd1' }, _timestamp: 2e9 }), 'a.jsonl', 1);
    if (!r.ok || !plain.ok) throw new Error('unreachable');
    expect(resolveAnswers([r.value.answer, plain.value.answer], 'latest', true).spans).toEqual(r.value.answer.spans);
  });
  it('reads image_manual spans (rect and polygon) as boxes, also under a review recipe', () => {
    const spans = [
      {
        id: 'r',
        label: 'car',
        color: 'yellow',
        x: 1,
        y: 2,
        width: 3,
        height: 4,
        center: [2.5, 4],
        type: 'rect',
        points: [
          [1, 2],
          [1, 6],
          [4, 6],
          [4, 2],
        ],
      },
      {
        id: 'p',
        label: 'car',
        type: 'polygon',
        points: [
          [0, 0],
          [4, 0],
          [2, 4],
        ],
      },
    ];
    const r = parseExportLine(
      JSON.stringify({ spans, _input_hash: 1, answer: 'accept', _view_id: 'review', view_id: 'image_manual', versions: [] }),
      'a.jsonl',
      1,
    );
    expect(r).toMatchObject({
      ok: true,
      value: {
        answer: {
          view: 'image_manual',
          boxes: [
            { label: 'car', x: 1, y: 2, width: 3, height: 4 },
            {
              label: 'car',
              points: [
                [0, 0],
                [4, 0],
                [2, 4],
              ],
            },
          ],
          spans: null,
        },
      },
    });
  });
});

describe('data.jsonl lines for prodigy db-in', () => {
  it('writes a single rejected label as a binary reject, a conflict as ignore, boxes as image spans with the size', () => {
    const base = row('t', { a: 0.6, b: 0.4 }, null, []);
    expect(prodigyLine({ ...base, status: 'negative-only', negatives: ['a'] })).toMatchObject({ label: 'a', answer: 'reject' });
    expect(prodigyLine({ ...base, status: 'conflict' }).answer).toBe('ignore');
    expect(prodigyLine({ ...base, status: 'rejected' }).answer).toBe('reject');
    const img = prodigyLine({
      ...base,
      task: 'image-boxes',
      status: 'labelled',
      image: 'https://i',
      width: 9,
      height: 8,
      boxes: [{ label: 'a', x: 1, y: 1, width: 2, height: 2 }],
    });
    expect(img).toMatchObject({ image: 'https://i', width: 9, height: 8, spans: [{ label: 'a', x: 1 }], answer: 'accept' });
  });
});

describe('push-annotations', () => {
  let dir: string;
  let store: LocalStore;
  const good = (id: string, answer = 'accept') => JSON.stringify({ text: id, label: 'a', meta: { id }, _input_hash: 1, _task_hash: 2, answer });
  const rules: ExportRules = { task: 'textcat', view: 'choice', labels: new Set(['a', 'b']), annotators: [] };
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-push-'));
    store = new LocalStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names objects as JSONL exports', () => {
    expect(exportObjectName('alice')).toBe('alice.jsonl');
    expect(exportObjectName('alice.jsonl.gz')).toBe('alice.jsonl.gz');
    expect(() => exportObjectName('../x')).toThrow(/invalid annotation file name/);
    expect(() => exportObjectName('.hidden')).toThrow(/invalid annotation file name/);
  });

  it('refuses a file with bad lines (reporting each line number) unless asked to skip them', async () => {
    const text = [good('x'), '{"broken', '', JSON.stringify({ answer: 'maybe', _input_hash: 1 }), good('y', 'reject')].join('\n');
    const err = await pushAnnotations(store, Buffer.from(text), { round: 'r1', name: 'ann', label: 'ann.jsonl', rules }).catch((e: unknown) => e);
    expect(isReviewloopError(err, 'INPUT_INVALID')).toBe(true);
    expect((err as { details: { badLines: Array<{ line: number; field: string }> } }).details.badLines.map((b) => [b.line, b.field])).toEqual([
      [2, '(line)'],
      [4, 'answer'],
    ]);
    expect(await store.stat('annotations/r1/ann.jsonl')).toBeNull();
    const r = await pushAnnotations(store, Buffer.from(text), { round: 'r1', name: 'ann', label: 'ann.jsonl', skipBad: true, rules });
    expect(r).toMatchObject({ object: 'annotations/r1/ann.jsonl', created: true, answers: { accept: 1, reject: 1, ignore: 0 }, roundKnown: false });
    expect((await store.read('annotations/r1/ann.jsonl')).toString()).toBe(`${good('x')}\n${good('y', 'reject')}\n`);
  });

  it('is create-only: an identical re-push is fine, other bytes under the same name are refused with the object named', async () => {
    const text = `${good('x')}\n`;
    expect((await pushAnnotations(store, Buffer.from(text), { round: 'r1', name: 'ann.jsonl', label: 'f', rules })).created).toBe(true);
    expect((await pushAnnotations(store, Buffer.from(text), { round: 'r1', name: 'ann.jsonl', label: 'f', rules })).created).toBe(false);
    await expect(pushAnnotations(store, Buffer.from(`${good('z')}\n`), { round: 'r1', name: 'ann.jsonl', label: 'f', rules })).rejects.toThrow(
      /annotations\/r1\/ann\.jsonl already exists with different content/,
    );
    await expect(pushAnnotations(store, Buffer.from('\n\n'), { round: 'r1', name: 'e', label: 'f', rules })).rejects.toThrow(/no annotations/);
  });

  it('runs as a CLI command with exit codes: 0 uploaded, 1 bad lines, 2 usage', async () => {
    const cfg = path.join(dir, 'reviewloop.yaml');
    writeFileSync(
      cfg,
      `storage:\n  root: ${path.join(dir, 'root')}\nstats:\n  sink: none\nprojects:\n  - name: p\n    task: textcat\n    labels: [a, b]\n    strategy: { name: entropy, topK: 5 }\n`,
    );
    const file = path.join(dir, 'alice.jsonl');
    writeFileSync(file, `${good('x')}\n{oops\n`);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) };
    expect(await main(['node', 'reviewloop', 'push-annotations', file, '--round', 'r1', '-c', cfg, '--allow-unknown-round'], io)).toBe(1);
    expect(err.join('')).toContain(`${file} line 2: (line): malformed JSON`);
    expect(await main(['node', 'reviewloop', 'push-annotations', file, '--round', 'r1', '-c', cfg, '--skip-bad', '--allow-unknown-round'], io)).toBe(0);
    expect(out.join('')).toMatch(/uploaded 1 answer\(s\): 1 accept, 0 reject, 0 ignore to file:\/\/.*\/root\/p\/annotations\/r1\/alice\.jsonl/);
    expect(err.join('')).toContain('this project has no round r1');
    expect(await main(['node', 'reviewloop', 'push-annotations', file, '--round', '../x', '-c', cfg], io)).toBe(2);
    expect(await main(['node', 'reviewloop', 'push-annotations', '-', '--round', 'r1', '-c', cfg], io)).toBe(2);
  });
});
