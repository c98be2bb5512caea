import type { Storage } from '@google-cloud/storage';
import { loadStorage } from '../core/lazy-deps.js';
import { ReviewloopError } from '../../domain/errors.js';

/** V4 signed URLs live at most 7 days (GCS limit), in seconds. */
export const MAX_SIGNED_URL_TTL_SECONDS = 604_800;

/** Options for {@link MediaSigner}. */
export interface MediaSignerOptions {
  /**
   * A service-account key: signing happens locally with `private_key`. Unset
   * = Application Default Credentials; when they carry no key (Cloud Run,
   * GKE, a user login with impersonation) the client signs through the IAM
   * `signBlob` API, which needs `iam.serviceAccounts.signBlob` on the account.
   */
  credentials?: { client_email: string; private_key: string };
  /** A ready client instead (its apiEndpoint becomes the URL host). */
  storage?: Storage;
  /**
   * `storage.apiEndpoint` (a private endpoint, an emulator): signed URLs name
   * this host, the one the config says storage is reached at. Unset = Google's.
   */
  apiEndpoint?: string | null;
  /** Project for the client; signing itself needs none. */
  projectId?: string;
  /** Clock in ms since the epoch; the URL is valid from this instant. Default `Date.now`. */
  now?: () => number;
}

/** Signs V4 GET URLs for `gs://bucket/object` media (images, audio) that reviewers load in Prodigy. */
export class MediaSigner {
  private readonly storage: Storage;
  private readonly now: () => number;
  private readonly host: string | undefined;

  constructor(options: MediaSignerOptions = {}) {
    // The client itself keeps Google's endpoint (signBlob, ADC); only the URL's host follows the configured endpoint.
    this.storage = options.storage ?? new (loadStorage().Storage)({ credentials: options.credentials, projectId: options.projectId });
    this.now = options.now ?? Date.now;
    this.host = options.apiEndpoint ? options.apiEndpoint.replace(/\/+$/, '').replace(/\/storage\/v1$/, '') : undefined;
  }

  /** A URL that GETs `uri` for `ttlSeconds` (1…604800) from now. */
  async signRead(uri: string, ttlSeconds: number): Promise<string> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_SIGNED_URL_TTL_SECONDS) {
      throw new ReviewloopError(
        'CONFIG_INVALID',
        `signed URL TTL must be a whole number of seconds from 1 to ${MAX_SIGNED_URL_TTL_SECONDS} (7 days), got ${ttlSeconds}`,
        { details: { ttlSeconds } },
      );
    }
    const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) throw new ReviewloopError('INPUT_INVALID', `not a gs://bucket/object URI: ${JSON.stringify(uri)}`, { details: { uri } });
    const start = this.now();
    try {
      const [url] = await this.storage
        .bucket(m[1])
        .file(m[2])
        .getSignedUrl({
          version: 'v4',
          action: 'read',
          accessibleAt: new Date(start),
          expires: start + ttlSeconds * 1000,
          // The signature covers the host header, so the URL's host and the signed one are the same by construction.
          ...(this.host ? { host: this.host } : {}),
        });
      return url;
    } catch (err) {
      throw new ReviewloopError('STORE_UNAVAILABLE', `could not sign a URL for ${uri}: ${(err as Error).message}`, { cause: err, details: { uri } });
    }
  }
}

/** One-off {@link MediaSigner.signRead}. */
export function signedReadUrl(uri: string, ttlSeconds: number, options: MediaSignerOptions = {}): Promise<string> {
  return new MediaSigner(options).signRead(uri, ttlSeconds);
}

const SECRET_PARAMS = new Set(['x-goog-signature', 'x-goog-credential', 'signature', 'googleaccessid']);

/** The URL with signature and credential values replaced by `REDACTED`, safe for logs. Non-URLs are returned as `[unparseable URL]`. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[unparseable URL]';
  }
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMS.has(key.toLowerCase())) parsed.searchParams.set(key, 'REDACTED');
  }
  return parsed.toString();
}
