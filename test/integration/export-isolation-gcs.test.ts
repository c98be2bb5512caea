/**
 * Per-export isolation on a gs:// root (fake-gcs-server): the reviewer recorded
 * by push-annotations travels as object metadata, an unreadable export is
 * quarantined per generation, and the others merge.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { pushAnnotations } from '../../worker/cli/commands/push-annotations.js';
import { readQuarantine } from '../../worker/merge/export-quarantine.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { runMerge } from '../../worker/merge/merge.js';
import { projectStore } from '../../worker/store/open-store.js';
import { exportRules } from '../../domain/prodigy/validate.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';

const line = (id: string, label: string, session: string | null) =>
  JSON.stringify({
    text: `ticket ${id}`,
    options: [
      { id: 'a', text: 'a' },
      { id: 'b', text: 'b' },
    ],
    meta: { id },
    _input_hash: id.length * 31,
    _task_hash: 7,
    _view_id: 'choice',
    accept: [label],
    answer: 'accept',
    _timestamp: 1_764_748_800,
    _session_id: session,
    ...(session ? { _annotator_id: session } : {}),
  });

describe('export isolation on a gs:// root', () => {
  let bucket: TestBucket;
  let store: ObjectStore;
  const project = parseConfig({
    storage: { root: 'gs://x' },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 5 } }],
  }).projects[0];

  beforeAll(async () => {
    bucket = await makeTestBucket('rl-exports');
    store = projectStore(new GcsStore(`gs://${bucket.name}/root`, { apiEndpoint: gcsEndpoint() }), 'p');
  });
  afterAll(async () => {
    await bucket.cleanup();
  });

  it('names unnamed sessions after the pushing reviewer, quarantines a truncated export, and reads its next generation', async () => {
    await pushAnnotations(store, Buffer.from(`${line('x1', 'a', null)}\n${line('x2', 'b', 'intents-bob')}\n`), {
      round: 'r1',
      name: 'dana',
      label: 'dana.jsonl',
      rules: exportRules(project),
      annotator: 'dana',
    });
    const gz = gzipSync(Buffer.from(`${line('x3', 'a', 'intents-eve')}\n`.repeat(20)));
    await store.write('annotations/r1/eve.jsonl.gz', gz.subarray(0, gz.length - 12));
    const m1 = await runMerge({ project, store, sink: null });
    expect(m1.status).toBe('created');
    expect(m1.quarantined.map((q) => [q.name, q.reason.startsWith('cannot decompress')])).toEqual([['annotations/r1/eve.jsonl.gz', true]]);
    const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    expect(rows.map((r) => [r.id, r.annotators])).toEqual([
      ['x1', ['dana']],
      ['x2', ['bob']],
    ]);
    expect((await readQuarantine(store)).map((q) => q.name)).toEqual(['annotations/r1/eve.jsonl.gz']);

    expect((await runMerge({ project, store, sink: null })).status).toBe('nothing-new');
    await store.write('annotations/r1/eve.jsonl.gz', gz);
    const m3 = await runMerge({ project, store, sink: null });
    expect(m3).toMatchObject({ status: 'created', version: 2, quarantined: [] });
    expect(m3.manifest!.counts).toMatchObject({ answers: 1, duplicates: 19 });
  });
});
