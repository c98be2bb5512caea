import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { exportLines, isUnreadable, type ExportLine } from '../../worker/merge/export-lines.js';
import { annotatorName, answerKey, parseExportLine } from '../../domain/prodigy/exports.js';
import { checkExportLine, type CheckContext, type ExportRules } from '../../domain/prodigy/validate.js';
import type { TaskType } from '../../scoring/types.js';

const FIXTURES = path.resolve(__dirname, '../fixtures/prodigy');
const fixture = (f: string) => readFileSync(path.join(FIXTURES, f), 'utf8').split('\n').filter(Boolean);

const rules = (task: TaskType, labels: string[], view?: string): ExportRules => ({
  task,
  labels: new Set(labels),
  annotators: [],
  view: view ?? (task === 'ner' ? 'ner_manual' : task === 'image-boxes' ? 'image_manual' : task === 'audio' ? 'audio_manual' : 'choice'),
});
const ctx = (r: ExportRules, known: CheckContext['known'] = null, owner: string | null = null): CheckContext => ({ rules: r, known, owner });
const check = (line: unknown, c: CheckContext) => {
  const r = checkExportLine(JSON.stringify(line), 'annotations/R/a.jsonl', 4, c);
  return r.ok ? null : r.bad;
};

const textcat = ctx(rules('textcat', ['billing', 'shipping', 'returns']));
const ner = ctx(rules('ner', ['ORG', 'PERSON']));
const boxes = ctx(rules('image-boxes', ['car', 'person']));
const TEXT72 = 'The blender arrived broken and I want to send it back for a full refund!';
const choice = (extra: Record<string, unknown>) => ({
  text: TEXT72,
  options: [{ id: 'billing' }],
  _input_hash: 11,
  _task_hash: 12,
  _view_id: 'choice',
  answer: 'accept',
  meta: { id: 't1' },
  ...extra,
});
// An image_manual db-out line as Prodigy writes it: pixel points, rectangle x/y/width/height.
const imageLine = {
  image: 'gs://b/p/img.jpg',
  width: 200,
  height: 100,
  _input_hash: 3,
  _task_hash: 4,
  _view_id: 'image_manual',
  answer: 'accept',
  spans: [
    {
      label: 'car',
      points: [
        [10, 10],
        [60, 10],
        [60, 40],
        [10, 40],
      ],
      x: 10,
      y: 10,
      width: 50,
      height: 30,
      type: 'rect',
    },
  ],
};

describe('the one export validator', () => {
  it('takes every line of the real exports in projects they fit', () => {
    const fits: Array<[string, CheckContext]> = [
      ['ner_manual_fashion_brands.jsonl', ctx(rules('ner', ['FASHION_BRAND']))],
      ['ner_manual_tweets_with_ignore.jsonl', ctx(rules('ner', ['PERSON']))],
      ['textcat_binary_docs_issues.jsonl', ctx(rules('textcat', ['DOCUMENTATION']))],
      ['choice_entity_links.jsonl', ctx(rules('textcat', ['Q48226', 'Q215952', 'Q312545', 'NIL_otherLink', 'NIL_ambiguous']))],
    ];
    for (const [f, c] of fits) {
      const bad = fixture(f)
        .map((l, i) => checkExportLine(l, f, i + 1, c))
        .filter((r) => !r.ok);
      expect(bad, f).toEqual([]);
    }
  });

  it('rejects labels outside the config: accept lists, binary label, span, box and audio labels', () => {
    expect(check(choice({ accept: ['NOT_A_LABEL'] }), textcat)).toMatchObject({
      object: 'annotations/R/a.jsonl',
      line: 4,
      field: 'accept[0]',
      reason: expect.stringContaining('"NOT_A_LABEL" is not one of the project\'s labels'),
    });
    expect(check(choice({ accept: ['billing', 'constructor'] }), textcat)).toMatchObject({ field: 'accept[1]' });
    expect(check({ text: 'x', label: '__proto__', _input_hash: 1, answer: 'accept' }, textcat)).toMatchObject({ field: 'label' });
    expect(
      check({ text: 'Acme hired Jane.', spans: [{ start: 0, end: 4, label: 'GPE' }], _input_hash: 1, _view_id: 'ner_manual', answer: 'accept' }, ner),
    ).toMatchObject({ field: 'spans[0].label' });
    expect(
      check(
        {
          ...imageLine,
          spans: [
            {
              label: 'truck',
              points: [
                [1, 1],
                [2, 2],
              ],
            },
          ],
        },
        boxes,
      ),
    ).toMatchObject({ field: 'spans[0].label' });
    const audio = ctx(rules('audio', ['speech']));
    expect(
      check(
        { audio: 'gs://b/a.wav', audio_spans: [{ start: 0.5, end: 1.5, label: 'music' }], _input_hash: 1, _view_id: 'audio_manual', answer: 'accept' },
        audio,
      ),
    ).toMatchObject({ field: 'audio_spans[0].label' });
    expect(check(choice({ accept: ['billing'] }), textcat)).toBeNull();
  });

  it('rejects spans outside the text or out of step with the tokens', () => {
    const base = { text: TEXT72, _input_hash: 1, _view_id: 'ner_manual', answer: 'accept' };
    expect(TEXT72.length).toBe(72);
    expect(check({ ...base, spans: [{ start: 4, end: 1e9, label: 'ORG' }] }, ner)).toMatchObject({
      field: 'spans[0]',
      reason: 'end 1000000000 is past the text (length 72)',
    });
    expect(check({ ...base, spans: [{ start: 4, end: 2 ** 53, label: 'ORG' }] }, ner)).toMatchObject({ field: 'spans[0]' });
    expect(check({ ...base, spans: [{ start: 4, end: 4, label: 'ORG' }] }, ner)).toMatchObject({
      field: 'spans[0]',
      reason: expect.stringContaining('start < end'),
    });
    const tokens = [
      { text: 'The', start: 0, end: 3, id: 0 },
      { text: 'blender', start: 4, end: 11, id: 1 },
    ];
    expect(check({ ...base, tokens, spans: [{ start: 4, end: 11, token_start: 1, token_end: 1, label: 'ORG' }] }, ner)).toBeNull();
    expect(check({ ...base, tokens, spans: [{ start: 0, end: 11, token_start: 1, token_end: 1, label: 'ORG' }] }, ner)).toMatchObject({
      field: 'spans[0]',
      reason: expect.stringContaining('do not match tokens'),
    });
    expect(check({ ...base, tokens, spans: [{ start: 4, end: 11, token_start: 1, token_end: 5, label: 'ORG' }] }, ner)).toMatchObject({
      field: 'spans[0].token_end',
    });
  });

  it('rejects boxes outside the image when its size is known, and sizes no image has', () => {
    expect(check(imageLine, boxes)).toBeNull();
    expect(
      check(
        {
          ...imageLine,
          spans: [
            {
              label: 'car',
              points: [
                [10, 10],
                [260, 40],
              ],
            },
          ],
        },
        boxes,
      ),
    ).toMatchObject({ field: 'spans[0].points', reason: expect.stringContaining('outside the 200×100 image') });
    expect(check({ ...imageLine, spans: [{ label: 'car', x: 150, y: 10, width: 90, height: 10 }] }, boxes)).toMatchObject({ field: 'spans[0].points' });
    expect(check({ ...imageLine, width: 1e300 }, boxes)).toMatchObject({ field: 'width' });
    const { width: _w, height: _h, ...unsized } = imageLine;
    expect(
      check(
        {
          ...unsized,
          spans: [
            {
              label: 'car',
              points: [
                [5000, 10],
                [5010, 20],
              ],
            },
          ],
        },
        boxes,
      ),
    ).toBeNull();
  });

  it("rejects an answer whose shape is another task's: image boxes in a textcat project, text spans in an image project", () => {
    expect(check(imageLine, textcat)).toMatchObject({ field: 'image', reason: 'an image task does not fit this textcat project' });
    expect(check({ ...imageLine, image: undefined, text: 'x' }, textcat)).toMatchObject({ field: '_view_id' });
    expect(check({ text: 'Acme', spans: [{ start: 0, end: 4, label: 'car' }], _input_hash: 1, _view_id: 'ner_manual', answer: 'accept' }, boxes)).toMatchObject(
      { field: '_view_id' },
    );
    expect(check({ ...imageLine, accept: ['car'] }, ctx(rules('image', ['car'])))).toMatchObject({ field: '_view_id' });
    expect(check({ text: 'Acme', spans: [{ start: 0, end: 4, label: 'car' }], _input_hash: 1, answer: 'accept' }, boxes)).toMatchObject({
      field: 'spans',
      reason: 'text spans do not fit this image-boxes project',
    });
    expect(check(choice({ accept: ['billing'], _view_id: 'ner_manual' }), textcat)).toMatchObject({ field: '_view_id' });
    const textInNer = fixture('textcat_binary_docs_issues.jsonl').map((l, i) => checkExportLine(l, 'f', i + 1, ctx(rules('ner', ['DOCUMENTATION']))));
    expect(textInNer.filter((r) => !r.ok).length).toBeGreaterThan(0);
  });

  it('needs the item known from its round, or the content in the line', () => {
    const line = { _input_hash: 1, _view_id: 'choice', accept: ['billing'], answer: 'accept', meta: { id: 't1', round: 'r1' } };
    expect(check(line, textcat)).toMatchObject({ field: 'text', reason: 'no text and item "t1" is not known from round r1' });
    expect(
      check(
        line,
        ctx(textcat.rules, (round, id) => round === 'r1' && id === 't1'),
      ),
    ).toBeNull();
    expect(
      check(
        { ...line, meta: {} },
        ctx(textcat.rules, () => true),
      ),
    ).toMatchObject({ field: 'text', reason: 'no text and the line has no meta.id' });
  });

  it('accepts only Unix seconds from 2000 to 2100 as _timestamp, and says when it looks like milliseconds', () => {
    const at = (ts: unknown) => parseExportLine(`{"text":"x","label":"billing","_input_hash":1,"answer":"accept","_timestamp":${String(ts)}}`, 'f', 2);
    expect(at(1633931094).ok).toBe(true);
    for (const ts of ['1e300', '-1', '1e400', '"1633931094"', '0']) expect(at(ts), ts).toMatchObject({ ok: false, bad: { field: '_timestamp' } });
    expect(at(1633931094000)).toMatchObject({ ok: false, bad: { reason: expect.stringContaining('milliseconds') } });
  });

  it('keeps the context spans and boxes of a choice task out of a classification answer', () => {
    const [first] = fixture('choice_entity_links.jsonl');
    const r = checkExportLine(first, 'f', 1, ctx(rules('textcat', ['Q312545', 'Q48226', 'Q215952'])));
    expect(r.ok && r.value.answer).toMatchObject({ spans: null, accept: ['Q312545'] });
    const { _view_id: _v, ...noView } = imageLine;
    const img = checkExportLine(JSON.stringify({ ...noView, _view_id: 'choice', accept: ['car'] }), 'f', 1, ctx(rules('image', ['car', 'bus'])));
    expect(img.ok && img.value.answer).toMatchObject({ boxes: null, accept: ['car'] });
  });
});

describe('reviewers from Prodigy session ids', () => {
  it('is the session part of <dataset>-<session>, the same person across datasets', () => {
    expect(annotatorName('support_intents-alice', [], null)).toBe('alice');
    expect(annotatorName('support-intents-r2-alice', [], null)).toBe('alice');
    expect(annotatorName('ner_news-mary-jane', ['mary-jane', 'bob'], null)).toBe('mary-jane');
    expect(annotatorName('alice', [], null)).toBe('alice');
  });
  it('gives unnamed sessions (default, a start time) and missing ids to the file owner, else nobody', () => {
    expect(annotatorName('support_intents-default', [], 'alice')).toBe('alice');
    expect(annotatorName('2019-03-11_15-15-44', [], null)).toBeNull();
    expect(annotatorName(null, [], 'bob')).toBe('bob');
    expect(annotatorName(null, [], null)).toBeNull();
  });
  it('keeps the exported id in the answer key, so answers merged before keep their identity', () => {
    const line = '{"text":"x","label":"a","_input_hash":1,"answer":"accept","_session_id":"ds-alice","_annotator_id":"ds-alice"}';
    const r = parseExportLine(line, 'f', 1);
    if (!r.ok) throw new Error(r.bad.reason);
    expect(r.value.answer).toMatchObject({ annotator: 'alice', annotator_raw: 'ds-alice', session: 'ds-alice' });
    const { annotator_raw: _raw, ...older } = { ...r.value.answer, annotator: 'ds-alice' };
    expect(answerKey('i', r.value.answer)).toBe(answerKey('i', older));
  });
});

describe('export lines as a stream', () => {
  const read = async (chunks: Buffer[], opts = {}) => {
    const out: ExportLine[] = [];
    for await (const l of exportLines(
      (async function* () {
        yield* chunks;
      })(),
      'x',
      opts,
    ))
      out.push(l);
    return out;
  };
  it('splits lines across chunk edges, numbers them as in the file, strips CR and skips blanks', async () => {
    const text = '{"a":1}\r\n\n{"b":2}\n{"c":3}';
    const whole = await read([Buffer.from(text)]);
    expect(whole).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 3, text: '{"b":2}' },
      { line: 4, text: '{"c":3}' },
    ]);
    const bytes = Buffer.from(text);
    expect(await read([...bytes].map((b) => Buffer.from([b])))).toEqual(whole);
    const gz = gzipSync(bytes);
    expect(await read([gz.subarray(0, 1), gz.subarray(1, 7), gz.subarray(7)])).toEqual(whole);
  });
  it('rejects one over-long or non-UTF-8 line and goes on', async () => {
    const out = await read([Buffer.from(`{"a":1}\n${'x'.repeat(100)}\n`), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('{"b":2}\n')], { maxLineBytes: 50 });
    expect(out).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: null, reason: 'line longer than 50 bytes' },
      { line: 3, text: null, reason: 'not UTF-8 text' },
      { line: 4, text: '{"b":2}' },
    ]);
  });
  it('marks a truncated gzip and an export over the size bound as unreadable', async () => {
    const gz = gzipSync(Buffer.from('{"a":1}\n'.repeat(1000)));
    const truncated = await read([gz.subarray(0, gz.length - 20)]).catch((e: unknown) => e);
    expect(isUnreadable(truncated)).toBe(true);
    const big = await read([Buffer.from('{"a":1}\n'.repeat(100))], { maxBytes: 500 }).catch((e: unknown) => e);
    expect(isUnreadable(big) && big.details.reason).toBe('larger than 500 bytes decompressed');
  });
});
