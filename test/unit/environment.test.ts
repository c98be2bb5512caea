/**
 * What reviewloop takes from its environment: the storage emulator variable
 * beside storage.apiEndpoint, the credentials file, the job engine's task
 * index for `score --shard auto`, Cloud Run's PORT, and the host signed media
 * URLs name.
 */
import { generateKeyPairSync, createHash, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../worker/core/load-config.js';
import { main } from '../../worker/cli/main.js';
import { EXIT } from '../../domain/errors.js';
import { GcsStore, effectiveEndpoint } from '../../worker/store/gcs-store.js';
import { mediaUriOf } from '../../worker/media/task-media.js';
import { checkCredentialsFile } from '../../worker/store/open-store.js';
import { MediaSigner } from '../../worker/media/signing.js';
import { errorCode } from '../helpers/errors.js';

/** Sets environment variables for one test and puts the old values back. */
function withEnv(vars: Record<string, string | undefined>): () => void {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars))
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  return () => {
    for (const [k, v] of Object.entries(old))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  };
}

let dir: string;
let restore: (() => void) | null = null;
let out: string[];
let err: string[];
const io = () => ({ out: (s: string) => out.push(s), err: (s: string) => err.push(s) });
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'rl-env-'));
  out = [];
  err = [];
});
afterEach(() => {
  restore?.();
  restore = null;
  rmSync(dir, { recursive: true, force: true });
});
const yaml = (root: string, extra = '') => {
  const cfg = path.join(dir, 'reviewloop.yaml');
  writeFileSync(
    cfg,
    `storage:\n  root: ${root}\n${extra}stats: { sink: none }\nprojects:\n  - name: p\n    task: textcat\n    labels: [a, b]\n    strategy: { name: entropy, topK: 5 }\n`,
  );
  return cfg;
};

describe('STORAGE_EMULATOR_HOST beside storage.apiEndpoint', () => {
  it('two different endpoints are a configuration error naming both; the same one, or only one, is fine', () => {
    expect(() => effectiveEndpoint('http://127.0.0.1:4443', { STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9999' })).toThrow(
      /storage\.apiEndpoint is http:\/\/127\.0\.0\.1:4443 but STORAGE_EMULATOR_HOST=http:\/\/127\.0\.0\.1:9999/,
    );
    expect(effectiveEndpoint('http://127.0.0.1:4443/', { STORAGE_EMULATOR_HOST: '127.0.0.1:4443' })).toBe('http://127.0.0.1:4443/');
    expect(effectiveEndpoint(null, { STORAGE_EMULATOR_HOST: '127.0.0.1:4443' })).toBe('http://127.0.0.1:4443');
    expect(effectiveEndpoint('http://127.0.0.1:4443', {})).toBe('http://127.0.0.1:4443');
    expect(effectiveEndpoint(undefined, {})).toBeUndefined();
  });

  it('a gs:// root then fails to open with exit 78 before any request', async () => {
    restore = withEnv({ STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9' });
    expect(() => new GcsStore('gs://some-bucket/x', { apiEndpoint: 'http://127.0.0.1:4443' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(await main(['node', 'reviewloop', 'status', '-c', yaml('gs://some-bucket/x', '  apiEndpoint: http://127.0.0.1:4443\n')], io())).toBe(EXIT.CONFIG);
    expect(err.join('')).toContain('STORAGE_EMULATOR_HOST');
  });
});

describe('GOOGLE_APPLICATION_CREDENTIALS', () => {
  it('a path to nothing (or to a folder) is a configuration error naming it; a file or no variable is fine', () => {
    const key = path.join(dir, 'key.json');
    writeFileSync(key, '{}');
    expect(() => checkCredentialsFile({ GOOGLE_APPLICATION_CREDENTIALS: path.join(dir, 'missing.json') })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(path.join(dir, 'missing.json')) }),
    );
    expect(() => checkCredentialsFile({ GOOGLE_APPLICATION_CREDENTIALS: dir })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => checkCredentialsFile({ GOOGLE_APPLICATION_CREDENTIALS: key })).not.toThrow();
    expect(() => checkCredentialsFile({})).not.toThrow();
  });

  it('every command that opens the app exits 78 with one line', async () => {
    restore = withEnv({ GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/sa-key.json' });
    expect(await main(['node', 'reviewloop', 'status', '-c', yaml(path.join(dir, 'root'))], io())).toBe(EXIT.CONFIG);
    expect(err.join('').trim().split('\n')).toEqual([expect.stringContaining('GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/sa-key.json')]);
  });
});

describe('score --shard auto', () => {
  const input = () => {
    const f = path.join(dir, 'in.jsonl');
    writeFileSync(f, Array.from({ length: 6 }, (_, i) => JSON.stringify({ id: `r${i}`, probs: { a: 0.5 + i / 20, b: 0.5 - i / 20 } })).join('\n') + '\n');
    return f;
  };
  const score = (...extra: string[]) =>
    main(
      [
        'node',
        'reviewloop',
        'score',
        input(),
        '--task',
        'textcat',
        '--strategy',
        'entropy',
        '--labels',
        'a,b',
        '--threads',
        '1',
        '--no-progress',
        '--out',
        path.join(dir, 'part.json'),
        ...extra,
      ],
      io(),
    );

  it('reads the task index and count from Cloud Run, or the index from a Kubernetes indexed Job with --shards', async () => {
    restore = withEnv({ CLOUD_RUN_TASK_INDEX: '1', CLOUD_RUN_TASK_COUNT: '2', JOB_COMPLETION_INDEX: undefined });
    expect(await score('--shard', 'auto')).toBe(EXIT.OK);
    expect(JSON.parse(readFileSync(path.join(dir, 'part.json'), 'utf8'))).toMatchObject({ shard: { index: 1, count: 2 } });
    restore();
    restore = withEnv({ CLOUD_RUN_TASK_INDEX: undefined, CLOUD_RUN_TASK_COUNT: undefined, JOB_COMPLETION_INDEX: '2' });
    expect(await score('--shards', '3')).toBe(EXIT.OK);
    expect(JSON.parse(readFileSync(path.join(dir, 'part.json'), 'utf8'))).toMatchObject({ shard: { index: 2, count: 3 } });
  });

  it('without the environment it is a usage error naming the variables', async () => {
    restore = withEnv({ CLOUD_RUN_TASK_INDEX: undefined, CLOUD_RUN_TASK_COUNT: undefined, JOB_COMPLETION_INDEX: undefined });
    expect(await score('--shard', 'auto')).toBe(EXIT.USAGE);
    expect(err.join('')).toContain('CLOUD_RUN_TASK_INDEX');
  });
});

describe('PORT (Cloud Run) sets worker.httpPort', () => {
  it('overrides the file, and a bad value is a configuration error naming PORT', async () => {
    const cfg = yaml(path.join(dir, 'root'), '');
    expect((await loadConfig(cfg, { PORT: '9123' })).worker.httpPort).toBe(9123);
    expect((await loadConfig(cfg, {})).worker.httpPort).toBe(8080);
    expect(await errorCode(loadConfig(cfg, { PORT: 'http' }))).toBe('CONFIG_INVALID');
    await expect(loadConfig(cfg, { PORT: '70000' })).rejects.toThrow(/PORT=70000/);
  });
});

describe('signed media URLs name the configured endpoint', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const credentials = {
    client_email: 'signer@reviewloop-test.iam.gserviceaccount.com',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };

  function verifyV4(url: string): boolean {
    const u = new URL(url);
    const query = u.search
      .slice(1)
      .split('&')
      .filter((kv) => !kv.startsWith('X-Goog-Signature='))
      .sort()
      .join('&');
    const canonical = ['GET', u.pathname, query, `host:${u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const credential = u.searchParams.get('X-Goog-Credential')!;
    const sts = [
      'GOOG4-RSA-SHA256',
      u.searchParams.get('X-Goog-Date'),
      credential.slice(credential.indexOf('/') + 1),
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    return verify('sha256', Buffer.from(sts), publicKey, Buffer.from(u.searchParams.get('X-Goog-Signature')!, 'hex'));
  }

  it('a private endpoint becomes the URL host, signed for that host, and maps back to gs://', async () => {
    const now = () => Math.floor(Date.now() / 1000) * 1000;
    const url = await new MediaSigner({ credentials, now, apiEndpoint: 'https://storage-psc.p.googleapis.com/' }).signRead('gs://media-b/images/cat.jpg', 3600);
    const u = new URL(url);
    expect(u.host).toBe('storage-psc.p.googleapis.com');
    expect(u.pathname).toBe('/media-b/images/cat.jpg');
    expect(verifyV4(url)).toBe(true);
    expect(mediaUriOf(url)).toBe('gs://media-b/images/cat.jpg');
    // Without an endpoint: Google's host.
    const plain = await new MediaSigner({ credentials, now }).signRead('gs://media-b/images/cat.jpg', 3600);
    expect(new URL(plain).host).toBe('storage.googleapis.com');
    expect(verifyV4(plain)).toBe(true);
  });

  it('a CDN URL with its own Signature parameter is left alone', () => {
    const cdn = 'https://cdn.example.com/images/a.jpg?Expires=1&Signature=abc&Key-Pair-Id=K';
    expect(mediaUriOf(cdn)).toBe(cdn);
  });
});
