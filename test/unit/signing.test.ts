import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isReviewloopError } from '../../domain/errors.js';
import { MAX_SIGNED_URL_TTL_SECONDS, MediaSigner, redactUrl, signedReadUrl } from '../../worker/media/signing.js';

// A throwaway key made per run: signing with a key is local, no network involved.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const credentials = {
  client_email: 'signer@reviewloop-test.iam.gserviceaccount.com',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
// In the future: the client refuses expiries before the real clock.
const now = Date.parse('2031-05-04T02:00:00Z');

/** Recomputes the V4 string-to-sign from the URL and checks the RSA signature against the public key. */
function verifyV4(url: string): boolean {
  const u = new URL(url);
  const sig = u.searchParams.get('X-Goog-Signature')!;
  const query = u.search
    .slice(1)
    .split('&')
    .filter((kv) => !kv.startsWith('X-Goog-Signature='))
    .sort()
    .join('&');
  const canonical = ['GET', u.pathname, query, `host:${u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const credential = u.searchParams.get('X-Goog-Credential')!;
  const scope = credential.slice(credential.indexOf('/') + 1);
  const stringToSign = ['GOOG4-RSA-SHA256', u.searchParams.get('X-Goog-Date'), scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  return verify('sha256', Buffer.from(stringToSign), publicKey, Buffer.from(sig, 'hex'));
}

describe('signed media URLs', () => {
  it('signs a V4 GET URL with a service-account key, verifiable with its public key', async () => {
    const url = await signedReadUrl('gs://media-bucket/images/cat 1.jpg', 3600, { credentials, now: () => now });
    const u = new URL(url);
    expect(u.origin).toBe('https://storage.googleapis.com');
    expect(u.pathname).toBe('/media-bucket/images/cat%201.jpg');
    expect(u.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(u.searchParams.get('X-Goog-Expires')).toBe('3600');
    expect(u.searchParams.get('X-Goog-Date')).toBe('20310504T020000Z');
    expect(u.searchParams.get('X-Goog-Credential')).toBe(`${credentials.client_email}/20310504/auto/storage/goog4_request`);
    expect(u.searchParams.get('X-Goog-SignedHeaders')).toBe('host');
    expect(verifyV4(url)).toBe(true);
    expect(verifyV4(url.replace('cat%201', 'cat%202'))).toBe(false);
  });

  it('accepts up to 7 days and rejects longer, zero, fractional TTLs', async () => {
    const signer = new MediaSigner({ credentials, now: () => now });
    const url = await signer.signRead('gs://b/o', MAX_SIGNED_URL_TTL_SECONDS);
    expect(new URL(url).searchParams.get('X-Goog-Expires')).toBe('604800');
    for (const bad of [MAX_SIGNED_URL_TTL_SECONDS + 1, 0, -5, 1.5, Number.NaN]) {
      await expect(signer.signRead('gs://b/o', bad)).rejects.toSatisfy((e) => isReviewloopError(e, 'CONFIG_INVALID'));
    }
    await expect(signer.signRead('s3://b/o', 60)).rejects.toSatisfy((e) => isReviewloopError(e, 'INPUT_INVALID'));
  });

  it('redacts signature and credential values for logs', async () => {
    const url = await signedReadUrl('gs://media-bucket/a.png', 60, { credentials, now: () => now });
    const red = redactUrl(url);
    expect(red).not.toContain(new URL(url).searchParams.get('X-Goog-Signature')!);
    expect(red).not.toContain('signer%40reviewloop');
    expect(new URL(red).searchParams.get('X-Goog-Signature')).toBe('REDACTED');
    expect(new URL(red).searchParams.get('X-Goog-Credential')).toBe('REDACTED');
    expect(new URL(red).searchParams.get('X-Goog-Expires')).toBe('60');
    expect(redactUrl('https://x/y?Signature=abc&GoogleAccessId=me&keep=1')).toBe('https://x/y?Signature=REDACTED&GoogleAccessId=REDACTED&keep=1');
    expect(redactUrl('not a url')).toBe('[unparseable URL]');
  });
});
