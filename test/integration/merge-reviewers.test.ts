/**
 * Reviewers are Prodigy session names in every snapshot, including answers a
 * snapshot written before the exported id was kept still names
 * `<dataset>-<session>`; their identity (the answer key) does not change, so
 * a re-export is not merged twice.
 */
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { pushAnnotations } from '../../worker/cli/commands/push-annotations.js';
import { isReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { exportRules } from '../../domain/prodigy/validate.js';
import { runMerge } from '../../worker/merge/merge.js';
import { projectStore } from '../../worker/store/open-store.js';
import { jsonlBytes, rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { tempDir } from '../helpers/loop.js';

const line = (id: string, label: string, dataset: string, session: string, t: number) =>
  JSON.stringify({
    text: `ticket ${id}`,
    options: [{ id: 'a' }, { id: 'b' }],
    meta: { id },
    _input_hash: t,
    _task_hash: t + 1,
    _view_id: 'choice',
    accept: [label],
    answer: 'accept',
    _timestamp: 1_764_748_800 + t,
    _session_id: `${dataset}-${session}`,
    _annotator_id: `${dataset}-${session}`,
  });

describe('reviewers across datasets and snapshots', () => {
  let dir: string;
  let store: ObjectStore;
  const project = parseConfig({
    storage: { root: '.' },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 }, queue: { annotators: ['mary-jane', 'bob'] } }],
  }).projects[0];
  beforeEach(() => {
    dir = tempDir('reviewers');
    store = projectStore(new LocalStore(dir), 'p');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('one reviewer is one person across datasets; older snapshots are renamed without merging anything twice', async () => {
    await store.write('annotations/r1/a.jsonl', `${line('x1', 'a', 'intents_r1', 'mary-jane', 1)}\n${line('x1', 'a', 'intents_r1', 'bob', 2)}\n`);
    await runMerge({ project, store, sink: null });
    // The snapshot as a merge wrote it before answers kept the exported id: the annotator is the raw id.
    const v1 = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    for (const r of v1) {
      r.answers = r.answers.map(({ annotator_raw, ...a }) => ({ ...a, annotator: annotator_raw ?? null }));
      r.annotators = r.answers.map((a) => a.annotator!).sort();
    }
    await store.write('snapshots/v000001/data.jsonl', jsonlBytes(v1));
    expect(rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString())[0].annotators).toEqual(['intents_r1-bob', 'intents_r1-mary-jane']);

    // A re-export of round 1 (one line already merged) and an answer in another dataset.
    await store.write('annotations/r1/a-again.jsonl', `${line('x1', 'a', 'intents_r1', 'mary-jane', 1)}\n`);
    await store.write('annotations/r2/b.jsonl', `${line('x2', 'b', 'intents_r2', 'mary-jane', 3)}\n`);
    const m = await runMerge({ project, store, sink: null });
    expect(m.manifest!.counts).toMatchObject({ answers: 1, duplicates: 1 });
    const rows = rowsFromJsonl((await store.read('snapshots/v000002/data.jsonl')).toString());
    expect(rows.map((r) => [r.id, r.annotators])).toEqual([
      ['x1', ['bob', 'mary-jane']],
      ['x2', ['mary-jane']],
    ]);
    expect(rows[0].answers.map((a) => a.annotator_raw)).toEqual(['intents_r1-mary-jane', 'intents_r1-bob']);
  });

  it('push-annotations and merge know an item from its round when the line has no content, and refuse one they do not know', async () => {
    const item = { id: 'k1', rank: 1, audit: false, p: null, score: 0.9, model: 'm1', source: 'file:///p.jsonl#L1', prediction: { probs: { a: 0.5, b: 0.5 } } };
    await store.write('rounds/r1/items.jsonl', `${JSON.stringify(item)}\n{damaged\n`);
    const bare = (id: string, round: string) =>
      JSON.stringify({ meta: { id, round }, _input_hash: 5, _view_id: 'choice', accept: ['a'], answer: 'accept', _session_id: 'ds-bob' });
    const rules = exportRules(project);
    const refused = await pushAnnotations(store, Buffer.from(`${bare('k1', 'r1')}\n${bare('k2', 'r1')}\n${bare('k1', '../x')}\n`), {
      round: 'r1',
      name: 'bob',
      label: 'bob.jsonl',
      rules,
    }).catch((e: unknown) => e);
    expect(isReviewloopError(refused, 'INPUT_INVALID')).toBe(true);
    expect((refused as { details: { badLines: Array<{ line: number; field: string }> } }).details.badLines.map((b) => [b.line, b.field])).toEqual([
      [2, 'text'],
      [3, 'text'],
    ]);
    await pushAnnotations(store, Buffer.from(`${bare('k1', 'r1')}\n`), { round: 'r1', name: 'bob', label: 'bob.jsonl', rules });
    await store.write('annotations/r1/other.jsonl', `${bare('k2', 'r1')}\n`);
    const m = await runMerge({ project, store, sink: null });
    expect(m.badLines.map((b) => [b.object, b.line, b.field])).toEqual([['annotations/r1/other.jsonl', 1, 'text']]);
    const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    expect(rows.map((r) => [r.id, r.provenance, r.model, r.annotators])).toEqual([['k1', 'round', 'm1', ['bob']]]);
  });

  it('counts a line repeated in one file once, and the same unnamed-session answer from two reviewers twice', async () => {
    const anon = JSON.stringify({
      text: 'ticket z',
      meta: { id: 'z' },
      _input_hash: 9,
      _view_id: 'choice',
      accept: ['b'],
      answer: 'accept',
      _session_id: null,
    });
    const rules = exportRules(project);
    await pushAnnotations(store, Buffer.from(`${anon}\n${anon}\n`), { round: 'r1', name: 'alice', label: 'a.jsonl', rules, annotator: 'alice' });
    await pushAnnotations(store, Buffer.from(`${anon}\n`), { round: 'r1', name: 'carl', label: 'c.jsonl', rules, annotator: 'carl' });
    const m = await runMerge({ project, store, sink: null });
    expect(m.manifest!.counts).toMatchObject({ answers: 2, duplicates: 1 });
    const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    expect(rows[0].annotators).toEqual(['alice', 'carl']);
  });
});
