import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerImageSize, firstImageSize } from '../../worker/media/box-sizes.js';
import { ReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { mediaHeadReader, type MediaHeadReader } from '../../worker/media/media-read.js';
import { isDataObject, predictionObjectFilter } from '../../worker/sources/sources.js';
import { makeJpeg, makePng } from '../helpers/images.js';

describe('headerImageSize', () => {
  const from =
    (files: Record<string, Buffer | Error>, reads: Array<[string, number]> = []): MediaHeadReader =>
    async (uri, bytes) => {
      reads.push([uri, bytes]);
      const f = files[uri];
      if (f instanceof Error) throw f;
      if (f === undefined) throw new ReviewloopError('NOT_FOUND', `object ${uri} not found`);
      return f.subarray(0, bytes);
    };

  it('reads JPEG and PNG sizes with one ranged read each', async () => {
    const reads: Array<[string, number]> = [];
    const hook = headerImageSize(from({ 'gs://b/a.jpg': makeJpeg(64, 48), 'gs://b/p.png': makePng(120, 80) }, reads));
    expect(await hook('gs://b/a.jpg')).toEqual({ width: 64, height: 48 });
    expect(await hook('gs://b/p.png')).toEqual({ width: 120, height: 80 });
    expect(reads).toEqual([
      ['gs://b/a.jpg', 64 * 1024],
      ['gs://b/p.png', 64 * 1024],
    ]);
  });

  it('reads further, doubling, only when a JPEG frame header sits past the first 64 KiB', async () => {
    const base = makeJpeg(21, 12);
    const len = 100_000;
    const app2 = Buffer.alloc(2 + len);
    app2.set([0xff, 0xe2]);
    app2.writeUInt16BE(0xfffe, 2);
    // Two APP2 segments of 65534 bytes push SOF to ~131 KiB.
    const seg = app2.subarray(0, 2 + 0xfffe);
    const big = Buffer.concat([base.subarray(0, 2), seg, seg, base.subarray(2)]);
    const reads: Array<[string, number]> = [];
    const hook = headerImageSize(from({ 'gs://b/big.jpg': big }, reads));
    expect(await hook('gs://b/big.jpg')).toEqual({ width: 21, height: 12 });
    expect(reads.map(([, n]) => n)).toEqual([65536, 131072, 262144]);
  });

  it('a missing or non-image file is a permanent failure, an unreachable store a retryable one', async () => {
    const hook = headerImageSize(
      from({
        'gs://b/text.jpg': Buffer.from('this is not an image at all'),
        'gs://b/empty.jpg': Buffer.alloc(0),
        'gs://b/down.jpg': new ReviewloopError('STORE_UNAVAILABLE', 'GCS request failed: ECONNREFUSED', { retryable: true }),
        'gs://b/denied.jpg': new ReviewloopError('STORE_UNAVAILABLE', 'GCS refused access (403)'),
      }),
    );
    expect(await hook('gs://b/gone.jpg')).toMatchObject({ retry: false, reason: expect.stringContaining('not found') });
    expect(await hook('gs://b/text.jpg')).toMatchObject({ retry: false, reason: expect.stringContaining('not a JPEG') });
    expect(await hook('gs://b/empty.jpg')).toMatchObject({ retry: false, reason: expect.stringContaining('empty') });
    expect(await hook('gs://b/down.jpg')).toMatchObject({ retry: true });
    // Permissions can be granted: the record waits for the next round rather than being thrown away.
    expect(await hook('gs://b/denied.jpg')).toMatchObject({ retry: true });
  });

  it('firstImageSize takes the first hook that knows', async () => {
    const none = async () => null;
    const fixed = async () => ({ width: 3, height: 4 });
    expect(await firstImageSize(none, fixed)('x')).toEqual({ width: 3, height: 4 });
    expect(await firstImageSize(none, none)('x')).toBeNull();
  });
});

describe('mediaHeadReader', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-media-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads absolute paths and file:// URIs outside any store, and only the bytes asked for', async () => {
    mkdirSync(path.join(dir, 'im g'));
    const png = makePng(30, 20);
    writeFileSync(path.join(dir, 'im g', 'a.png'), png);
    const read = mediaHeadReader({ localFiles: true });
    expect((await read(path.join(dir, 'im g', 'a.png'), 24)).equals(png.subarray(0, 24))).toBe(true);
    expect((await read(pathToFileURL(path.join(dir, 'im g', 'a.png')).href, 1 << 20)).equals(png)).toBe(true);
  });

  it('types its failures: missing file NOT_FOUND, relative path or other scheme PATH_INVALID, gs:// without a client STORE_UNAVAILABLE', async () => {
    const read = mediaHeadReader({ localFiles: true });
    await expect(read(path.join(dir, 'nope.jpg'), 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(read(dir, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(read('images/a.jpg', 10)).rejects.toMatchObject({ code: 'PATH_INVALID' });
    await expect(read('https://cdn.example/a.jpg', 10)).rejects.toMatchObject({ code: 'PATH_INVALID' });
    await expect(read('gs://bucket-x/a.jpg', 10)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(read('gs://bucket-x/', 10)).rejects.toMatchObject({ code: 'PATH_INVALID' });
  });

  it('reads gs:// media of any bucket through the store the factory opens for it, once per bucket', async () => {
    const opened: string[] = [];
    const stores = new Map<string, LocalStore>();
    const bucketStore = (bucket: string) => {
      opened.push(bucket);
      const s = new LocalStore(path.join(dir, bucket));
      stores.set(bucket, s);
      return s;
    };
    await new LocalStore(path.join(dir, 'media-b')).write('x/cat.jpg', makeJpeg(8, 6));
    const read = mediaHeadReader({ bucketStore, localFiles: false });
    expect((await read('gs://media-b/x/cat.jpg', 2)).equals(Buffer.from([0xff, 0xd8]))).toBe(true);
    await expect(read('gs://media-b/x/dog.jpg', 2)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // With a gs:// root, files on the worker's disk are not read (no probing of the host through rejects).
    await expect(read(path.join(dir, 'media-b', 'x', 'cat.jpg'), 2)).rejects.toMatchObject({ code: 'PATH_INVALID' });
    await expect(read(pathToFileURL('/etc/passwd').href, 2)).rejects.toMatchObject({ code: 'PATH_INVALID' });
    expect(opened).toEqual(['media-b']);
  });
});

describe('which prediction objects a round reads', () => {
  it('skips the error reports Vertex AI writes beside its results', () => {
    expect(isDataObject('predictions/job-1/prediction.results-00000-of-00002')).toBe(true);
    expect(isDataObject('predictions/job-1/prediction.errors_stats-00000-of-00002')).toBe(false);
    expect(isDataObject('predictions/job-1/errors_0001.jsonl')).toBe(false);
    expect(isDataObject('predictions/job-1/predictions_0001.jsonl')).toBe(true);
    expect(isDataObject('predictions/job-1/_SUCCESS')).toBe(false);
  });

  it('predictions.include (one glob or several) decides for every format, markers aside', () => {
    const one = predictionObjectFilter('predictions/', '**/prediction.results-*');
    expect(one('predictions/a/prediction.results-00000-of-00001')).toBe(true);
    expect(one('predictions/a/other.jsonl')).toBe(false);
    const many = predictionObjectFilter('predictions/', ['*.parquet', 'keep/**']);
    expect(many('predictions/x.parquet')).toBe(true);
    expect(many('predictions/keep/anything.bin')).toBe(true);
    expect(many('predictions/keep/_SUCCESS')).toBe(false);
    expect(many('predictions/sub/x.parquet')).toBe(false);
    // Explicit globs are the operator's choice, error reports included.
    expect(predictionObjectFilter('predictions/', '**')('predictions/a/prediction.errors_stats-00000-of-00001')).toBe(true);
    expect(predictionObjectFilter('predictions/', undefined)('predictions/a/prediction.errors_stats-00000-of-00001')).toBe(false);
  });
});
