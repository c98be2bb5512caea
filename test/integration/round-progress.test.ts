import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { runRound } from '../../worker/round/round.js';
import { writeOnce } from '../../worker/store/write-once.js';

const root = mkdtempSync(path.join(tmpdir(), 'rl-progress-'));
const pool = new ScoringPool({ threads: 2 });
afterAll(async () => {
  await pool.close();
  rmSync(root, { recursive: true, force: true });
});

describe("a round's progress hook (what the CLI draws its bar from)", () => {
  it('hears the objects and bytes to read, then records and bytes up to the whole input', async () => {
    const config = parseConfig({
      storage: { root },
      stats: { sink: 'none' },
      projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 3, auditFraction: 0, seed: 1 } }],
    });
    const store = projectStore(new LocalStore(root), 'p');
    const text = (from: number) =>
      Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `i${from + i}`, text: 'x', probs: { a: (i + 1) / 42, b: 1 - (i + 1) / 42 } })).join('\n') +
      '\n';
    await writeOnce(store, 'predictions/1.jsonl', text(0));
    await writeOnce(store, 'predictions/2.jsonl', text(40));
    const plans: Array<{ objects: number; bytes: number | undefined }> = [];
    const updates: Array<[number, number]> = [];
    const r = await runRound({
      project: config.projects[0],
      store,
      pool,
      sink: null,
      roundId: '20261101T0200Z',
      chunkBytes: 512,
      onScoring: (plan) => {
        plans.push(plan);
        return { update: (records, bytes) => updates.push([records, bytes]), done: () => updates.push([-1, -1]) };
      },
    });
    const bytes = Buffer.byteLength(text(0)) + Buffer.byteLength(text(40));
    expect(plans).toEqual([{ objects: 2, bytes }]);
    expect(updates.at(-1)).toEqual([-1, -1]);
    expect(updates.at(-2)).toEqual([80, bytes]);
    expect(r.manifest.counts.read).toBe(80);
  });
});

describe("a merge's progress hook", () => {
  it('hears the exports and bytes to read, then lines and bytes up to the whole of them', async () => {
    const { runMerge } = await import('../../worker/merge/merge.js');
    const config = parseConfig({
      storage: { root },
      stats: { sink: 'none' },
      projects: [{ name: 'm', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 3, auditFraction: 0, seed: 1 } }],
    });
    const store = projectStore(new LocalStore(root), 'm');
    // Two db-out exports of answers to items no round queued: merged as external answers.
    const answer = (i: number) =>
      JSON.stringify({
        text: `t${i}`,
        options: [
          { id: 'a', text: 'a' },
          { id: 'b', text: 'b' },
        ],
        accept: ['a'],
        answer: 'accept',
        _input_hash: i,
        _task_hash: i,
        _view_id: 'choice',
        _session_id: 'ds-ann',
        _annotator_id: 'ds-ann',
        _timestamp: 1_800_000_000 + i,
      });
    const a = [answer(1), answer(2)].join('\n') + '\n';
    const b = [answer(3)].join('\n') + '\n';
    await writeOnce(store, 'annotations/manual/a.jsonl', a);
    await writeOnce(store, 'annotations/manual/b.jsonl', b);
    const plans: Array<{ exports: number; bytes: number | undefined }> = [];
    const updates: Array<[number, number]> = [];
    await runMerge({
      project: config.projects[0],
      store,
      sink: null,
      onReading: (plan) => {
        plans.push(plan);
        return { update: (lines, bytes) => updates.push([lines, bytes]), done: () => updates.push([-1, -1]) };
      },
    });
    const bytes = Buffer.byteLength(a) + Buffer.byteLength(b);
    expect(plans).toEqual([{ exports: 2, bytes }]);
    expect(updates.at(-1)).toEqual([-1, -1]);
    expect(updates.at(-2)).toEqual([3, bytes]);
  });
});
