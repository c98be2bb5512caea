import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { folderOf, mediaOf, parseRawRecord, rawKindOf, rawObjectFilter } from '../../worker/sources/raw-source.js';

describe('raw objects: which count and what they become', () => {
  it('include is a glob relative to the prefix; markers and dot files never count', () => {
    const f = rawObjectFilter('raw/', '**/*.{jpg,png}');
    expect(['raw/a.jpg', 'raw/line-a/x.png', 'raw/2026/eu/y.jpg'].every(f)).toBe(true);
    expect(['raw/line-a/x.csv', 'raw/_SUCCESS', 'raw/line-a/.tmp.jpg', 'raw/line-a/'].some(f)).toBe(false);
    const all = rawObjectFilter('raw', undefined);
    expect(all('raw/notes/a.txt')).toBe(true);
    expect(all('raw/_SUCCESS')).toBe(false);
    expect(all('raw/job/prediction.errors_stats-00000-of-00001')).toBe(false);
    const many = rawObjectFilter('raw/', ['*.jpg', 'line-b/**']);
    expect(['raw/a.jpg', 'raw/line-b/c.wav'].every(many)).toBe(true);
    expect(many('raw/line-a/c.jpg')).toBe(false);
  });

  it('folders, kinds and task media', () => {
    expect(folderOf('raw/', 'raw/line-a/x.jpg')).toBe('line-a');
    expect(folderOf('raw/', 'raw/2026/eu/x.jpg')).toBe('2026/eu');
    expect(folderOf('raw/', 'raw/x.jpg')).toBe('.');
    expect(['a.JPG', 'a.wav', 'a.md', 'a.jsonl.gz', 'a.parquet'].map(rawKindOf)).toEqual(['image', 'audio', 'text', 'record', null]);
    expect(['textcat', 'ner', 'image', 'image-boxes', 'audio'].map((t) => mediaOf(t as never))).toEqual(['text', 'text', 'image', 'image', 'audio']);
  });

  it('raw records: id, meta and size kept, scores ignored, clear reasons', () => {
    expect(parseRawRecord('{"id": 7, "text": "hi", "probs": {"a": 1}, "meta": {"region": "eu"}}', 'text', 100)).toEqual({
      ok: true,
      id: '7',
      content: { text: 'hi' },
      meta: { region: 'eu' },
    });
    expect(parseRawRecord('{"image": "gs://b/x.jpg", "width": 10, "height": 5}', 'image', 100)).toEqual({
      ok: true,
      id: null,
      content: { image: 'gs://b/x.jpg', width: 10, height: 5 },
    });
    expect(parseRawRecord('{"text": "ääää"}', 'text', 7)).toEqual({ ok: false, field: 'text', reason: 'text is 8 bytes, above predictions.maxTextBytes (7)' });
    expect(parseRawRecord('{"id": "x", "audio": "a.wav"}', 'text', 100)).toEqual({ ok: false, field: 'text', id: 'x', reason: 'missing: task reviews text' });
    expect(parseRawRecord('[1]', 'text', 100)).toEqual({ ok: false, reason: 'expected a JSON object' });
    expect(parseRawRecord('{"id": {}, "text": "x"}', 'text', 100)).toMatchObject({ ok: false, field: 'id' });
  });
});

describe('config for raw projects', () => {
  const project = (over: Record<string, unknown>) => ({
    name: 'p',
    task: 'image-boxes',
    labels: ['a'],
    predictions: { format: 'objects' },
    strategy: { name: 'random', topK: 5 },
    ...over,
  });
  const parse = (over: Record<string, unknown>) => parseConfig({ storage: { root: '/tmp/x' }, projects: [project(over)] }).projects[0];

  it('defaults', () => {
    expect(parse({}).predictions.maxTextBytes).toBe(1024 * 1024);
    expect(parse({ strategy: { name: 'stratified-random', topK: 5, stratifyBy: 'meta.region' } }).strategy.stratifyBy).toBe('meta.region');
  });

  it('refuses what a raw project cannot do, naming the path', () => {
    expect(() => parse({ strategy: { name: 'entropy', topK: 5 } })).toThrowError(/projects\[0\]\.strategy\.name: raw objects have no model scores to rank/);
    expect(() => parse({ predictions: { format: 'auto' }, strategy: { name: 'sequential', topK: 5 } })).toThrowError(
      /strategy\.name: sequential samples raw items: it needs predictions\.format: objects/,
    );
    expect(() => parse({ strategy: { name: 'random', topK: 5, stratifyBy: 'folder' } })).toThrowError(/strategy\.stratifyBy: only used by stratified-random/);
    expect(() => parse({ strategy: { name: 'stratified-random', topK: 5, stratifyBy: 'region' } })).toThrowError(/strategy\.stratifyBy/);
    expect(() => parse({ strategy: { name: 'random', topK: 5, auditFraction: 0.1 } })).toThrowError(/strategy\.auditFraction: raw rounds are already sampled/);
  });
});
