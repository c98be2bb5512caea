import { describe, expect, it } from 'vitest';
import { signedUrlExpiry } from '../../worker/queue/queue-cat.js';

describe('the expiry of a signed media URL (queue cat re-signs those with under an hour left)', () => {
  it('is X-Goog-Date plus X-Goog-Expires for a V4 URL', () => {
    const url =
      'https://storage.googleapis.com/bucket/photos/cat.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20261101%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261101T020000Z&X-Goog-Expires=259200&X-Goog-SignedHeaders=host&X-Goog-Signature=abc';
    expect(signedUrlExpiry(url)).toBe(Date.UTC(2026, 10, 1, 2, 0, 0) + 259_200_000);
  });

  it('is unknown for a V2 URL, a URL without X-Goog-Expires, a gs:// URI or a local path (queue cat then re-signs what maps to gs://)', () => {
    expect(signedUrlExpiry('https://storage.googleapis.com/b/o.jpg?GoogleAccessId=sa&Expires=1800000000&Signature=abc')).toBeNull();
    expect(signedUrlExpiry('https://storage.googleapis.com/b/o.jpg?X-Goog-Date=20261101T020000Z&X-Goog-Signature=abc')).toBeNull();
    expect(signedUrlExpiry('gs://b/o.jpg')).toBeNull();
    expect(signedUrlExpiry('/data/images/o.jpg')).toBeNull();
  });
});
