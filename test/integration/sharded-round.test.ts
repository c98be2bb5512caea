/**
 * Sharded rounds on the GCS emulator: `reviewloop round --shard I/3` in three
 * processes writes the same queue, items, rejects and manifest bytes as one
 * unsharded process over the same plan; the reduce refuses an incomplete set
 * and names the missing shard.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intentBatch, INTENT_LABELS } from '../../worker/demo/data.js';
import { openStore, projectStore } from '../../worker/store/open-store.js';
import { resolveShard, shardObjects } from '../../worker/round/shard.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';

const BIN = resolve(__dirname, '..', '..', 'bin', 'reviewloop.js');
const ROUND = '20261201T0200Z';
const dir = mkdtempSync(join(tmpdir(), 'rl-shard-'));
let bucket: TestBucket;
let store: ObjectStore;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args, '-c', join(dir, 'reviewloop.yaml')], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('close', (code) => done({ code, out, err }));
  });
}

async function roundFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const o of store.list(`rounds/${ROUND}/`)) {
    if (o.name.includes('/partials/')) continue;
    files[o.name] = createHash('sha256')
      .update(await store.read(o.name))
      .digest('hex');
  }
  return files;
}

beforeAll(async () => {
  bucket = await makeTestBucket('shard');
  writeFileSync(
    join(dir, 'reviewloop.yaml'),
    [
      `storage: { root: "gs://${bucket.name}/root", apiEndpoint: "${gcsEndpoint()}", projectId: reviewloop-test }`,
      'stats: { sink: none }',
      'worker: { threads: 1, chunkBytes: 65536 }',
      'projects:',
      `  - { name: intents, task: textcat, labels: [${INTENT_LABELS.join(', ')}], strategy: { name: entropy, topK: 60, auditFraction: 0.2, seed: 7 } }`,
      '',
    ].join('\n'),
  );
  store = projectStore(openStore({ root: `gs://${bucket.name}/root`, apiEndpoint: gcsEndpoint(), projectId: 'reviewloop-test' }), 'intents');
  // Five objects of different sizes (one gzipped and truncated: quarantined), bad lines in two
  // of them, so shards get uneven shares (p0 | p4 | p1 p2 p3) and rejects must go back into plan
  // order (p1, p2's object-level line, p4) although shard 1 (p4) comes before shard 2 (p1).
  for (const [i, n] of [700, 150, 420, 90, 300].entries()) {
    const lines = intentBatch({ seed: 40 + i, n, model: 'm1', idPrefix: `s${i}`, labelShift: 0.05 * i, sharpness: 2 }).map((g) => JSON.stringify(g.record));
    if (i === 1 || i === 4) lines.splice(5, 0, `{"id": "broken-${i}"`, JSON.stringify({ id: `neg-${i}`, text: 'x', probs: { billing: -1 } }));
    const text = `${lines.join('\n')}\n`;
    if (i === 2) await store.write(`predictions/p${i}.jsonl.gz`, gzipSync(text).subarray(0, -300), { contentType: 'application/gzip' });
    else await store.write(`predictions/p${i}.jsonl`, text, { contentType: 'application/x-ndjson' });
  }
});

afterAll(async () => {
  await bucket?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe('sharded rounds', () => {
  it('takes the shard from flags or the job engine environment', () => {
    expect(resolveShard('2/5', undefined, {})).toEqual({ index: 2, count: 5 });
    expect(resolveShard('auto', undefined, { CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '4' })).toEqual({ index: 1, count: 4 });
    expect(resolveShard(undefined, '3', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 2, count: 3 });
    expect(resolveShard(undefined, undefined, { CLOUD_RUN_TASK_INDEX: '0' })).toBeUndefined();
    expect(() => resolveShard('auto', undefined, { JOB_COMPLETION_INDEX: '0' })).toThrow(/--shards N/);
    expect(() => resolveShard('3/3', undefined, {})).toThrow(/0 ≤ I < N/);
    expect(() => resolveShard(undefined, '4', { CLOUD_RUN_TASK_INDEX: '0', CLOUD_RUN_TASK_COUNT: '3' })).toThrow(/disagrees/);
  });

  it('assigns every object to exactly one shard, balanced by size, in plan order', () => {
    const objects = [900, 100, 400, 50, 300].map((size, i) => ({ name: `predictions/o${i}`, generation: '1', size }));
    const shards = [0, 1, 2].map((index) => shardObjects(store, objects, { index, count: 3 }));
    expect(
      shards
        .flat()
        .map((o) => o.name)
        .sort(),
    ).toEqual(objects.map((o) => o.name));
    // Largest first onto the least loaded shard (ties: lower index): 900 | 400+50 | 300+100.
    expect(shards.map((s) => s.reduce((a, o) => a + o.size, 0))).toEqual([900, 450, 400]);
    for (const s of shards) expect(s).toEqual(objects.filter((o) => s.includes(o)));
  });

  it('three shard processes write the same bytes as one process; reduce names a missing shard', async () => {
    const one = await cli(['round', '--round', ROUND]);
    expect(one.code, one.err).toBe(0);
    const unsharded = await roundFiles();
    expect(
      Object.keys(unsharded)
        .map((n) => n.split('/').pop())
        .sort(),
    ).toEqual(['items.jsonl', 'manifest.json', 'plan.json', 'queue.jsonl', 'rejects.jsonl']);
    const rejects = (await store.read(`rounds/${ROUND}/rejects.jsonl`))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).object);
    expect(rejects.map((o: string) => o.replace(/.*\//, ''))).toEqual(['p1.jsonl', 'p1.jsonl', 'p2.jsonl.gz', 'p4.jsonl', 'p4.jsonl']);
    const manifest = JSON.parse((await store.read(`rounds/${ROUND}/manifest.json`)).toString());
    expect(manifest.quarantined.map((q: { name: string; code: string }) => [q.name, q.code])).toEqual([['predictions/p2.jsonl.gz', 'GZIP_TRUNCATED']]);

    // Same plan (it pins object generations), fresh outputs.
    for (const name of Object.keys(unsharded)) if (!name.endsWith('/plan.json')) await store.delete(name);
    expect(Object.keys(await roundFiles())).toEqual([`rounds/${ROUND}/plan.json`]);

    const [s0, s2] = await Promise.all([cli(['round', '--round', ROUND, '--shard', '0/3']), cli(['round', '--round', ROUND, '--shard', '2/3'])]);
    expect([s0.code, s2.code], s0.err + s2.err).toEqual([0, 0]);
    expect(s0.out + s2.out).toContain('waiting for shard 1');

    const missing = await cli(['reduce', '--round', ROUND]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/SHARDS_MISSING: round 20261201T0200Z: shard 1\/3 missing \(have 2 of 3\)/);
    expect(Object.keys(await roundFiles())).toEqual([`rounds/${ROUND}/plan.json`]);

    // The last task (index from the job engine's environment) completes the set and writes the round.
    const s1 = await cli(['round', '--round', ROUND, '--shard', 'auto'], { CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '3' });
    expect(s1.code, s1.err).toBe(0);
    expect(s1.out).toContain(`round ${ROUND} written`);
    expect(await roundFiles()).toEqual(unsharded);
    const partials = await Promise.all(
      [0, 1, 2].map(async (i) => JSON.parse((await store.read(`rounds/${ROUND}/partials/shard-000${i}-of-0003.json`)).toString())),
    );
    for (const p of partials) expect(p.inputs.length).toBeGreaterThan(0);
    expect(partials.map((p) => p.inputs.map((u: string) => u.replace(/.*\//, '')))).toEqual([
      ['p0.jsonl'],
      ['p4.jsonl'],
      ['p1.jsonl', 'p2.jsonl.gz', 'p3.jsonl'],
    ]);
    expect(partials.map((p) => p.round.rejectCounts)).toEqual([[0], [2], [2, 1, 0]]);
    expect(partials.map((p) => p.round.quarantined.length)).toEqual([0, 0, 1]);

    const again = await cli(['reduce', '--round', ROUND]);
    expect(again.code).toBe(0);
    expect(again.out).toContain('already exists; nothing changed');
  });
});
