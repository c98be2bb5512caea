import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseExportLine } from '../../domain/prodigy/exports.js';

const FIXTURES = path.resolve(__dirname, '../fixtures/prodigy');

describe('real Prodigy db-out exports (test/fixtures/prodigy)', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.jsonl'));
  it('finds all four fixture files', () => {
    expect(files.sort()).toEqual([
      'choice_entity_links.jsonl',
      'ner_manual_fashion_brands.jsonl',
      'ner_manual_tweets_with_ignore.jsonl',
      'textcat_binary_docs_issues.jsonl',
    ]);
  });
  for (const f of files) {
    it(`parses every line of ${f}`, () => {
      const lines = readFileSync(path.join(FIXTURES, f), 'utf8').split('\n').filter(Boolean);
      const results = lines.map((l, i) => parseExportLine(l, `annotations/R/${f}`, i + 1));
      const bad = results.filter((r) => !r.ok);
      expect(bad).toEqual([]);
      expect(results.length).toBeGreaterThan(0);
    });
  }
  it('reads answer shapes: binary label, choice accept list, spans with token offsets, ignore, timestamp', () => {
    const first = (f: string, pred: (l: Record<string, unknown>) => boolean) => {
      const lines = readFileSync(path.join(FIXTURES, f), 'utf8').split('\n').filter(Boolean);
      const i = lines.findIndex((l) => pred(JSON.parse(l)));
      const r = parseExportLine(lines[i], f, i + 1);
      if (!r.ok) throw new Error(r.bad.reason);
      return r.value;
    };
    const bin = first('textcat_binary_docs_issues.jsonl', (l) => l.answer === 'reject');
    expect(bin.answer).toMatchObject({ answer: 'reject', label: 'DOCUMENTATION', accept: null });
    expect(bin.id).toBeNull();
    expect(bin.inputHash).toBeLessThan(0);
    const choice = first('choice_entity_links.jsonl', () => true);
    expect(choice.answer.accept?.length).toBeGreaterThan(0);
    expect(choice.answer.session).toBeNull();
    const ner = first('ner_manual_fashion_brands.jsonl', (l) => Array.isArray(l.spans) && (l.spans as unknown[]).length > 0);
    expect(ner.answer.spans?.[0]).toMatchObject({ token_start: expect.any(Number), token_end: expect.any(Number) });
    const ign = first('ner_manual_tweets_with_ignore.jsonl', (l) => l.answer === 'ignore');
    expect(ign.answer).toMatchObject({ answer: 'ignore', timestamp: expect.any(Number) });
  });
});

describe('bad export lines', () => {
  const bad = (line: string) => {
    const r = parseExportLine(line, 'annotations/R/a.jsonl', 7);
    return r.ok ? null : r.bad;
  };
  it('name object, line and field', () => {
    expect(bad('{"text": "x"')).toMatchObject({ object: 'annotations/R/a.jsonl', line: 7, field: '(line)', reason: expect.stringMatching(/^malformed JSON/) });
    expect(bad('{"text":"x","_input_hash":1,"answer":"maybe"}')).toMatchObject({ field: 'answer' });
    expect(bad('{"text":"x","answer":"accept"}')).toMatchObject({ field: '_input_hash' });
    expect(bad('{"text":"abc","_input_hash":1,"answer":"accept","spans":[{"start":0,"end":9,"label":"X"}]}')).toMatchObject({ field: 'spans[0]' });
    expect(bad('{"text":"x","_input_hash":1,"answer":"accept","accept":"A"}')).toMatchObject({ field: 'accept' });
  });
  it('reject a line nesting deeper than 64 levels, naming the top-level field, at any depth', () => {
    const deep = (n: number) => `${'{"m":'.repeat(n)}1${'}'.repeat(n)}`;
    for (const n of [64, 3000, 100_000]) {
      expect(bad(`{"text":"x","_input_hash":1,"answer":"accept","meta":{"id":"a","extra":${deep(n)}}}`)).toMatchObject({
        line: 7,
        field: 'meta',
        reason: expect.stringMatching(/nested more than 64 levels/),
      });
    }
    // 64 levels counting the line itself pass: the bound is the prediction lines' one.
    expect(bad(`{"text":"x","_input_hash":1,"answer":"accept","extra":${deep(62)}}`)).toBeNull();
  });
  it('keep unknown keys and never throw', () => {
    const r = parseExportLine('{"text":"x","_input_hash":1,"answer":"accept","title":"t","_is_binary":false,"__proto__":{"x":1}}', 'f', 1);
    expect(r.ok && r.value.task.title).toBe('t');
    fc.assert(
      fc.property(fc.json(), (j) => typeof parseExportLine(j, 'f', 1).ok === 'boolean'),
      { numRuns: 1000 },
    );
  });
});
