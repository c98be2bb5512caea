/**
 * Errors from a gs:// store name the whole location, bucket included: an
 * operator reading "not found" must see which bucket was asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';

describe('GCS error messages', () => {
  let bucket: TestBucket;
  let store: GcsStore;
  beforeAll(async () => {
    bucket = await makeTestBucket('rl-errors');
    store = new GcsStore(`gs://${bucket.name}/loop`, { storage: bucket.storage, retry: { maxAttempts: 1 } });
  });
  afterAll(async () => {
    await bucket?.cleanup();
  });

  it('a missing object is NOT_FOUND naming gs://bucket/prefix/name', async () => {
    const err = await store.read('tickets/rounds/r1/manifest.json').then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('NOT_FOUND');
    expect(err?.message).toContain(`gs://${bucket.name}/loop/tickets/rounds/r1/manifest.json`);
    const streamErr = await new Promise<Error & { code?: string }>((resolve) => {
      store
        .readStream('tickets/img.jpg', { range: { start: 0, end: 9 } })
        .on('error', resolve)
        .resume();
    });
    expect(streamErr).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(`gs://${bucket.name}/loop/tickets/img.jpg`) });
  });

  it('a create-only write that finds the object names it in full', async () => {
    await store.write('a.txt', 'x', { ifGenerationMatch: '0' });
    await expect(store.write('a.txt', 'y', { ifGenerationMatch: '0' })).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
      message: expect.stringContaining(`gs://${bucket.name}/loop/a.txt`),
    });
  });

  it('listing a bucket that does not exist is a configuration error naming the bucket', async () => {
    const missing = new GcsStore(`gs://${bucket.name}-missing/loop`, { apiEndpoint: gcsEndpoint(), retry: { maxAttempts: 1 } });
    const err = await (async () => {
      for await (const _ of missing.list('tickets/rounds/')) {
        /* drain */
      }
    })().then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err?.code).toBe('CONFIG_INVALID');
    expect(err?.message).toContain(`gs://${bucket.name}-missing`);
    expect(err?.message).toContain(`gs://${bucket.name}-missing/loop/tickets/rounds/`);
  });
});
