import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { isReviewloopError, ReviewloopError } from '../../domain/errors.js';
import { LocalStore } from '../../worker/store/local-store.js';
import { createLogger, redact, redactString } from '../../worker/core/log.js';
import { runMerge } from '../../worker/merge/merge.js';
import { projectStore } from '../../worker/store/open-store.js';
import { MediaSigner, MAX_SIGNED_URL_TTL_SECONDS, redactUrl } from '../../worker/media/signing.js';
import { openBigQuerySink } from '../../worker/stats/sinks/bigquery-sink.js';
import { main } from '../../worker/cli/main.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import { loopConfig } from '../helpers/loop.js';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
/** A service-account key shaped exactly like the JSON file Google hands out. */
const SA_KEY = {
  type: 'service_account',
  project_id: 'acme-ml-prod',
  private_key_id: '1f2e3d4c5b6a79808f7e6d5c4b3a29181f2e3d4c',
  private_key: PEM,
  client_email: 'reviewloop@acme-ml-prod.iam.gserviceaccount.com',
  client_id: '109876543210987654321',
  token_uri: 'https://oauth2.googleapis.com/token',
};
const KEY_BODY = PEM.split('\n')[1];

describe('security: object names from input never escape the project root', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rl-sec-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects traversal, absolute, NUL/control and reserved names with PATH_INVALID', async () => {
    const store = projectStore(new LocalStore(path.join(dir, 'root')), 'p');
    for (const name of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', 'a\\..\\b', 'a\u0000b', 'a\nb', 'a\u007fb', '.', 'a/./b', '', '..']) {
      const err = await store.write(name, 'x').then(
        () => null,
        (e: unknown) => e,
      );
      expect(isReviewloopError(err, 'PATH_INVALID'), JSON.stringify(name)).toBe(true);
    }
    const root = new LocalStore(path.join(dir, 'root'));
    for (const name of ['.reviewloop-tmp/tmp/x', '.reviewloop-tmp/locks/y.lock']) {
      const err = await root.write(name, 'x').then(
        () => null,
        (e: unknown) => e,
      );
      expect(isReviewloopError(err, 'PATH_INVALID'), name).toBe(true);
    }
  });

  it('a merge never follows meta.round from an export outside the project', async () => {
    const rootDir = path.join(dir, 'merge-root');
    // A tempting target outside the project: items a path-joining merge would pick up.
    mkdirSync(path.join(dir, 'evil'), { recursive: true });
    writeFileSync(
      path.join(dir, 'evil', 'items.jsonl'),
      `${JSON.stringify({ id: 'x1', rank: 1, audit: false, p: null, score: 9, model: 'stolen', source: 'evil', prediction: {} })}\n`,
    );
    const config = loopConfig(rootDir);
    const store = projectStore(new LocalStore(rootDir), 'intents');
    const line = { text: 'hi', accept: ['billing'], answer: 'accept', _input_hash: 1, _task_hash: 2, meta: { id: 'x1', round: '../../../evil' } };
    await store.write('annotations/manual/a.jsonl', `${JSON.stringify(line)}\n`);
    const m = await runMerge({ project: config.projects[0], store, sink: null });
    expect(m.status).toBe('created');
    const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 'x1', provenance: 'external', model: null, prediction_source: null });
  });
});

describe('security: BigQuery identifiers from config are validated, values are parameters', () => {
  const base = { storage: { root: '/tmp/x' }, projects: [{ name: 'p', task: 'textcat', labels: ['a'], strategy: { name: 'entropy', topK: 1 } }] };
  it.each(['x`; DROP TABLE rounds; --', 'a.b', 'a-b', '1abc', '', 'rounds`'])('rejects dataset %j in config', (dataset) => {
    expect(() => parseConfig({ ...base, stats: { sink: 'bigquery', projectId: 'acme-ml-prod', dataset } })).toThrow(/stats\.dataset/);
  });

  it.each(['acme`.evil', 'Acme', 'a', 'acme ml', 'acme-ml-prod`; --'])('rejects project id %j in config', (projectId) => {
    expect(() => parseConfig({ ...base, stats: { sink: 'bigquery', projectId, dataset: 'ok' } })).toThrow(/stats\.projectId/);
  });

  it('the sink itself refuses a bad dataset before any request', async () => {
    const err = await openBigQuerySink({ projectId: 'acme-ml-prod', dataset: 'x`; DROP', location: 'US', apiEndpoint: 'http://127.0.0.1:1' } as never).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isReviewloopError(err, 'STATS_FAILED')).toBe(true);
  });

  it('stats SQL takes values as @parameters, never spliced into the text', async () => {
    const { readFile } = await import('node:fs/promises');
    const src = await readFile(path.resolve(__dirname, '../../worker/stats/sinks/bigquery-sink.ts'), 'utf8');
    // Every query() call site passes a params object; the only interpolations are validated identifiers.
    const calls = [...src.matchAll(/this\.query\(\s*(['`])([\s\S]*?)\1\s*(,\s*\{[^}]*\})?\s*\)/g)];
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) {
      expect(c[2], c[0]).not.toMatch(/\$\{/);
      if (/@\w+/.test(c[2])) expect(c[3], c[0]).toBeTruthy();
    }
  });
});

describe('security: signed URL TTL is bounded', () => {
  const signer = new MediaSigner({ credentials: { client_email: SA_KEY.client_email, private_key: PEM }, now: () => Date.UTC(2026, 10, 27) });
  it.each([0, -1, 1.5, MAX_SIGNED_URL_TTL_SECONDS + 1, Infinity, NaN])('refuses TTL %s with CONFIG_INVALID', async (ttl) => {
    const err = await signer.signRead('gs://bucket/img/a.jpg', ttl).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isReviewloopError(err, 'CONFIG_INVALID')).toBe(true);
  });
  it('config caps queue.signedUrlTtlSeconds at 7 days', () => {
    const p = { name: 'p', task: 'image', labels: ['a'], strategy: { name: 'entropy', topK: 1 } };
    expect(() => parseConfig({ storage: { root: '/tmp/x' }, projects: [{ ...p, queue: { signedUrlTtlSeconds: 604_801 } }] })).toThrow(/signedUrlTtlSeconds/);
  });
});

describe('security: secrets and signed URLs never reach logs or error output', () => {
  let url: string;
  beforeAll(async () => {
    const signer = new MediaSigner({ credentials: { client_email: SA_KEY.client_email, private_key: PEM } });
    url = await signer.signRead('gs://acme-media/images/cat 1.jpg', 3600);
    expect(url).toMatch(/X-Goog-Signature=[0-9a-f]{64,}/);
  });
  const signature = () => new URL(url).searchParams.get('X-Goog-Signature')!;

  function captured(fn: (log: ReturnType<typeof createLogger>) => void): string {
    let out = '';
    const stream = new Writable({
      write(chunk, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    fn(createLogger({ stream, json: true, level: 'DEBUG' }));
    return out;
  }

  it('redacts a service-account key logged as a field, inside an object, or pasted into a message', () => {
    const text = captured((log) => {
      log.info('loaded credentials', { credentials: SA_KEY });
      log.info('config', { storage: { auth: SA_KEY } });
      log.error(`could not parse ${JSON.stringify(SA_KEY)}`);
      log.warn('raw pem', { note: PEM });
    });
    expect(text).not.toContain(KEY_BODY);
    expect(text).not.toContain('BEGIN PRIVATE KEY-----\\n');
    expect(text).toContain('REDACTED');
    expect(JSON.stringify(redact(SA_KEY))).not.toContain(KEY_BODY);
  });

  it('redacts a V4 signed URL in messages, fields and errors', () => {
    const text = captured((log) => {
      log.info(`queued media ${url}`);
      log.info('task', { image: url, nested: [{ url }] });
      log.error('failed', { err: new ReviewloopError('STORE_UNAVAILABLE', `GET ${url} failed`) });
    });
    expect(text).not.toContain(signature());
    expect(redactString(url)).not.toContain(signature());
    expect(redactUrl(url)).not.toContain(signature());
    expect(redactUrl(url)).toContain('X-Goog-Signature=REDACTED');
  });

  it('the CLI prints failures with signatures and keys redacted', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rl-sec-cli-'));
    try {
      // A config path that carries a signed URL's query (as a pasted URL would): the error quotes the path.
      const bad = path.join(dir, `media.jpg?X-Goog-Credential=x&X-Goog-Signature=${signature()}`);
      let err = '';
      const code = await main(['node', 'reviewloop', 'round', '-c', bad, '--round', '20261101T0200Z'], {
        out: () => undefined,
        err: (s) => {
          err += s;
        },
      });
      expect(code).toBe(78);
      // The line was quoted (so there was something to redact), without its secrets.
      expect(err).toContain('X-Goog-Signature=REDACTED');
      expect(err).not.toContain(signature());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
