import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isReviewloopError } from '../../domain/errors.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { openStore, projectStore } from '../../worker/store/open-store.js';
import type { ObjectInfo } from '../../worker/store/store.js';

async function names(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const out: string[] = [];
  for await (const o of it) out.push(o.name);
  return out;
}

describe('openStore / projectStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rl-open-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('picks the store from the root', () => {
    expect(openStore(dir)).toBeInstanceOf(LocalStore);
    expect(openStore(dir).root).toBe(dir);
    expect(openStore('data', { cwd: dir }).root).toBe(join(dir, 'data'));
    expect(openStore(pathToFileURL(dir).href).root).toBe(dir);
    const gcs = openStore({ root: 'gs://my-bucket/team/loop/', apiEndpoint: 'http://127.0.0.1:1', projectId: 'p' });
    expect(gcs).toBeInstanceOf(GcsStore);
    expect(gcs.root).toBe('gs://my-bucket/team/loop');
    expect(gcs.uri('rounds/R/queue.jsonl')).toBe('gs://my-bucket/team/loop/rounds/R/queue.jsonl');
    for (const bad of ['s3://b/x', 'gs://', 'gs://B!/x', 'gs://bucket/../x']) {
      // A malformed URI is a config error; a valid one with a ".." prefix is a path error.
      expect(() => openStore(bad), bad).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(CONFIG_INVALID|PATH_INVALID)$/) }));
    }
  });

  it('keeps a project under ROOT/<project>/ and names relative to it', async () => {
    const root = openStore(dir);
    const a = projectStore(root, 'alpha');
    const b = projectStore(root, 'beta');
    await a.write('predictions/a.jsonl', '{"id":"1"}\n');
    await b.write('predictions/b.jsonl', '{"id":"2"}\n');
    const made = await a.write('rounds/R/queue.jsonl', 'q');
    expect(made.name).toBe('rounds/R/queue.jsonl');
    expect(await readFile(join(dir, 'alpha', 'rounds', 'R', 'queue.jsonl'), 'utf8')).toBe('q');
    expect(await names(a.list(''))).toEqual(['predictions/a.jsonl', 'rounds/R/queue.jsonl']);
    expect(await names(a.list('predictions/', { startOffset: 'predictions/a' }))).toEqual(['predictions/a.jsonl']);
    expect((await a.stat('predictions/a.jsonl'))?.name).toBe('predictions/a.jsonl');
    expect(a.root).toBe(join(dir, 'alpha'));
    expect(a.uri('x')).toBe(pathToFileURL(join(dir, 'alpha', 'x')).href);
    try {
      await a.read('../beta/predictions/b.jsonl');
      expect.unreachable();
    } catch (err) {
      expect(isReviewloopError(err, 'PATH_INVALID')).toBe(true);
    }
  });
});
