import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { listingStart } from '../../worker/store/listing.js';
import { canonicalQueue, gcsMediaUris, mapMediaFields, mediaUriOf, signMediaUrls } from '../../worker/media/task-media.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const credentials = {
  client_email: 'unit@reviewloop-test.iam.gserviceaccount.com',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
const TTL = 86_400;

describe('signed media URLs map back to gs:// URIs', () => {
  it('round-trips odd object names through signing', async () => {
    const uris = ['gs://b-1/a/cat 1.jpg', 'gs://b-1/ü/ñ#?%25&=+.wav', 'gs://b.dots/x//y.png'];
    const sign = await signMediaUrls(uris, { ttlSeconds: TTL, signer: { credentials } });
    for (const u of uris) {
      expect(sign(u)).toMatch(/^https:\/\/storage\.googleapis\.com\//);
      expect(mediaUriOf(sign(u))).toBe(u);
    }
    expect(sign('gs://b-1/not-asked.jpg')).toBe('gs://b-1/not-asked.jpg');
  });

  it('leaves unsigned URLs and other strings alone', () => {
    for (const v of [
      'https://storage.googleapis.com/b/o.jpg',
      'https://example.org/x.jpg?X-Goog-Signature=ab',
      'gs://b/o',
      'data:image/png;base64,AAAA',
      'not a url',
    ]) {
      expect(mediaUriOf(v)).toBe(v);
    }
    expect(mediaUriOf('https://bkt.storage.googleapis.com/p/q.jpg?X-Goog-Signature=ab')).toBe('gs://bkt/p/q.jpg');
  });

  it('canonical queues equal across signings; only media fields change', async () => {
    const tasks = [
      { image: 'gs://b/1.jpg', meta: { id: '1' }, _input_hash: 1 },
      { audio: 'gs://b/2.wav', text: 'gs://b/2.wav', _input_hash: 2 },
    ];
    const at = (now: number) => signMediaUrls(gcsMediaUris(tasks), { ttlSeconds: TTL, signer: { credentials, now: () => now } });
    const [s1, s2] = [await at(Date.now()), await at(Date.now() + 60_000)];
    const q = (s: (u: string) => string) => tasks.map((t) => JSON.stringify(mapMediaFields(t, (v) => (v.startsWith('gs://') ? s(v) : v)))).join('\n');
    expect(q(s1)).not.toBe(q(s2));
    expect(canonicalQueue(q(s1))).toBe(canonicalQueue(q(s2)));
    expect(canonicalQueue(q(s1))).toBe(tasks.map((t) => JSON.stringify(t)).join('\n'));
  });

  it('keeps a pinned signing instant while half the TTL is left, else signs from now', async () => {
    const now = Math.floor(Date.now() / 1000) * 1000;
    const date = (s: (u: string) => string) => new URL(s('gs://b/o')).searchParams.get('X-Goog-Date');
    const iso = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
    const pinnedRecent = new Date(now - 0.4 * TTL * 1000).toISOString();
    expect(date(await signMediaUrls(['gs://b/o'], { ttlSeconds: TTL, signedAt: pinnedRecent, signer: { credentials, now: () => now } }))).toBe(
      iso(now - 0.4 * TTL * 1000),
    );
    const pinnedOld = new Date(now - 0.6 * TTL * 1000).toISOString();
    expect(date(await signMediaUrls(['gs://b/o'], { ttlSeconds: TTL, signedAt: pinnedOld, signer: { credentials, now: () => now } }))).toBe(iso(now));
    const pinnedFuture = new Date(now + 60_000).toISOString();
    expect(date(await signMediaUrls(['gs://b/o'], { ttlSeconds: TTL, signedAt: pinnedFuture, signer: { credentials, now: () => now } }))).toBe(iso(now));
  });
});

describe('listingStart', () => {
  const inc = { mode: 'incremental' as const, fullRescanEvery: 3 };
  it('starts at the newest folder, or the newest object in a flat layout', () => {
    expect(listingStart('predictions/', ['predictions/a/1.jsonl', 'predictions/c/2.jsonl', 'predictions/b/9.jsonl'], 1, inc)).toBe('predictions/c/');
    expect(listingStart('predictions/', ['predictions/x-001.jsonl', 'predictions/x-002.jsonl'], 2, inc)).toBe('predictions/x-002.jsonl');
    expect(listingStart('predictions/', ['other/z/1.jsonl', 'predictions/a/1.jsonl'], 1, inc)).toBe('predictions/a/');
  });
  it('lists everything on the first run, every fullRescanEvery-th run, in full mode, and without history', () => {
    const names = ['predictions/a/1.jsonl'];
    expect(listingStart('predictions/', names, 0, inc)).toBeUndefined();
    expect(listingStart('predictions/', names, 3, inc)).toBeUndefined();
    expect(listingStart('predictions/', names, 4, inc)).toBe('predictions/a/');
    expect(listingStart('predictions/', names, 4, { mode: 'full', fullRescanEvery: 0 })).toBeUndefined();
    expect(listingStart('predictions/', names, 3, { mode: 'incremental', fullRescanEvery: 0 })).toBe('predictions/a/');
    expect(listingStart('predictions/', [], 5, inc)).toBeUndefined();
  });
});
