import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, verify } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { resignRound } from '../../worker/queue/resign.js';
import { catQueue, signedUrlExpiry } from '../../worker/queue/queue-cat.js';
import { GcsStore } from '../../worker/store/gcs-store.js';
import { createLogger } from '../../worker/core/log.js';
import { runMerge } from '../../worker/merge/merge.js';
import { projectStore } from '../../worker/store/open-store.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { inputHash, taskHash } from '../../domain/prodigy/tasks.js';
import { runRound } from '../../worker/round/round.js';
import { rowsFromJsonl } from '../../worker/snapshot/snapshot-files.js';
import type { ObjectStore } from '../../worker/store/store.js';
import { jsonLines } from '../../worker/store/write-once.js';
import { gcsEndpoint } from '../helpers/emulators.js';
import { makeTestBucket, type TestBucket } from '../helpers/gcs.js';
import { tempDir } from '../helpers/loop.js';

const run = promisify(execFile);
const REPO = path.resolve(__dirname, '../..');
const ROUND = '20261101T0200Z';
const TTL = 3 * 86_400;

/** Throwaway service-account keys, made at test time. */
function makeKey(email: string) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { publicKey, credentials: { client_email: email, private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() } };
}
const keyA = makeKey('signer-a@reviewloop-test.iam.gserviceaccount.com');
const keyB = makeKey('signer-b@reviewloop-test.iam.gserviceaccount.com');

/** Recomputes the V4 string-to-sign and checks the signature with the public key. */
function verifyV4(url: string, publicKey: typeof keyA.publicKey, signedHost?: string): boolean {
  const u = new URL(url);
  const query = u.search
    .slice(1)
    .split('&')
    .filter((kv) => !kv.startsWith('X-Goog-Signature='))
    .sort()
    .join('&');
  const canonical = ['GET', u.pathname, query, `host:${signedHost ?? u.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const credential = u.searchParams.get('X-Goog-Credential')!;
  const sts = [
    'GOOG4-RSA-SHA256',
    u.searchParams.get('X-Goog-Date'),
    credential.slice(credential.indexOf('/') + 1),
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  return verify('sha256', Buffer.from(sts), publicKey, Buffer.from(u.searchParams.get('X-Goog-Signature')!, 'hex'));
}

const lines = (b: Buffer) =>
  b
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

/** A logger whose every line is kept, to prove no signature reaches a log. */
function capturingLogger() {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ stream, json: true, level: 'DEBUG' }), text: () => out.join('') };
}

describe('signed media URLs in image queues on a gs:// root', () => {
  let bucket: TestBucket;
  let store: ObjectStore;
  let pool: ScoringPool;
  let dir: string;
  const logs = capturingLogger();
  const project = parseConfig({
    storage: { root: 'gs://unused' },
    stats: { sink: 'none' },
    projects: [
      {
        name: 'pets',
        task: 'image',
        labels: ['cat', 'dog'],
        strategy: { name: 'least-confidence', topK: 6 },
        queue: { signedUrlTtlSeconds: TTL, annotators: ['ann', 'bob'] },
      },
    ],
  }).projects[0];
  // The wall clock, frozen: the first run pins it in plan.json.
  const t0 = Math.floor(Date.now() / 1000) * 1000;

  beforeAll(async () => {
    bucket = await makeTestBucket('media');
    dir = tempDir('media');
    store = projectStore(new GcsStore(`gs://${bucket.name}/root`, { apiEndpoint: gcsEndpoint() }), 'pets');
    pool = new ScoringPool({ threads: 1 });
    const records = Array.from({ length: 20 }, (_, i) => ({
      id: `img-${i}`,
      image: `gs://media-${bucket.name}/photos/${i % 2 ? 'cat' : 'dog'} #${i}?.jpg`,
      width: 640,
      height: 480,
      probs: { cat: 0.5 + i / 50, dog: 0.5 - i / 50 },
      model: 'v1',
    }));
    records.push({ ...records[0], id: 'web-1', image: 'https://example.org/already-public.jpg' });
    await store.write('predictions/batch/part-0.jsonl', jsonLines(records));
  });
  afterAll(async () => {
    await pool?.close();
    await bucket?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const round = (credentials: typeof keyA.credentials, now: number) =>
    runRound({ project, store, pool, sink: null, roundId: ROUND, chunkBytes: 4096, logger: logs.logger, mediaSigner: { credentials, now: () => now } });

  it('queues V4 signed GET URLs, signed at the instant pinned in plan.json, with hashes from the item id', async () => {
    const r = await round(keyA.credentials, t0);
    expect(r.status).toBe('created');
    const plan = JSON.parse((await store.read(`rounds/${ROUND}/plan.json`)).toString());
    expect(plan.mediaSignedAt).toBe(new Date(t0).toISOString());
    const q = lines(await store.read(`rounds/${ROUND}/queue.jsonl`));
    expect(q).toHaveLength(6);
    expect(q.find((t) => t.meta.id === 'web-1')?.image).toBe('https://example.org/already-public.jpg');
    for (const t of q.filter((x) => x.meta.id !== 'web-1')) {
      const u = new URL(t.image);
      expect(u.origin).toBe('https://storage.googleapis.com');
      expect(u.pathname.startsWith(`/media-${bucket.name}/photos/`)).toBe(true);
      expect(u.searchParams.get('X-Goog-Expires')).toBe(String(TTL));
      expect(u.searchParams.get('X-Goog-Date')).toBe(new Date(t0).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, ''));
      expect(verifyV4(t.image, keyA.publicKey)).toBe(true);
      const ih = inputHash('pets', t.meta.id);
      expect(t._input_hash).toBe(ih);
      expect(t._task_hash).toBe(taskHash(ih, 'choice', ['cat', 'dog']));
    }
    // The per-annotator files carry the same signed URLs.
    const ann = lines(await store.read(`rounds/${ROUND}/queue-ann.jsonl`));
    expect(ann.every((t) => q.some((x) => x.image === t.image))).toBe(true);
  });

  it('a rerun after a crash signs the same URLs: same bytes', async () => {
    const before = await Promise.all(['queue.jsonl', 'queue-ann.jsonl', 'manifest.json'].map((f) => store.read(`rounds/${ROUND}/${f}`)));
    await store.delete(`rounds/${ROUND}/manifest.json`);
    await store.delete(`rounds/${ROUND}/queue.jsonl`); // the crash came before this write
    const r = await round(keyA.credentials, t0 + 3_600_000);
    expect(r.status).toBe('created');
    const after = await Promise.all(['queue.jsonl', 'queue-ann.jsonl', 'manifest.json'].map((f) => store.read(`rounds/${ROUND}/${f}`)));
    after.forEach((b, i) => expect(b.equals(before[i])).toBe(true));
  });

  it('a rerun signing with another key keeps the queue already written and completes the round', async () => {
    const before = await store.read(`rounds/${ROUND}/queue.jsonl`);
    await store.delete(`rounds/${ROUND}/manifest.json`);
    const r = await round(keyB.credentials, t0 + 7_200_000);
    expect(r.status).toBe('created');
    expect((await store.read(`rounds/${ROUND}/queue.jsonl`)).equals(before)).toBe(true);
    expect(logs.text()).toContain('was written by an earlier attempt with other signed URLs; kept');
  });

  it('the merge stores gs:// URIs, never the signed URLs reviewers saw', async () => {
    const q = lines(await store.read(`rounds/${ROUND}/queue-ann.jsonl`));
    const answers = q.map((t, i) => ({
      ...t,
      answer: 'accept',
      accept: [i % 2 ? 'cat' : 'dog'],
      _view_id: 'choice',
      _annotator_id: 'pets-ann',
      _timestamp: 1_800_000_000 + i,
    }));
    await store.write(`annotations/${ROUND}/ann.jsonl`, jsonLines(answers));
    const m = await runMerge({ project, store, sink: null });
    expect(m.status).toBe('created');
    const rows = rowsFromJsonl((await store.read('snapshots/v000001/data.jsonl')).toString());
    expect(rows).toHaveLength(q.length);
    for (const row of rows.filter((x) => x.id !== 'web-1'))
      expect(row.image).toMatch(new RegExp(`^gs://media-${bucket.name}/photos/(cat|dog) #\\d+\\?\\.jpg$`));
  });

  it('resign writes a new object with fresh URLs, same order and hashes, and never replaces the queue', async () => {
    const original = await store.read(`rounds/${ROUND}/queue.jsonl`);
    const later = t0 + 2 * 86_400_000;
    const r1 = await resignRound({ project, store, roundId: ROUND, signer: { credentials: keyB.credentials, now: () => later }, logger: logs.logger });
    expect(r1.written).toEqual([
      `rounds/${ROUND}/queue.resigned-1.jsonl`,
      `rounds/${ROUND}/queue-ann.resigned-1.jsonl`,
      `rounds/${ROUND}/queue-bob.resigned-1.jsonl`,
    ]);
    const r2 = await resignRound({ project, store, roundId: ROUND, signer: { credentials: keyB.credentials, now: () => later + 1000 } });
    expect(r2.written[0]).toBe(`rounds/${ROUND}/queue.resigned-2.jsonl`);
    expect((await store.read(`rounds/${ROUND}/queue.jsonl`)).equals(original)).toBe(true);
    const a = lines(original);
    const b = lines(await store.read(r1.written[0]));
    expect(b).toHaveLength(a.length);
    b.forEach((t, i) => {
      expect({ ...t, image: null }).toEqual({ ...a[i], image: null });
      expect(JSON.stringify(t).replace(t.image, '')).toBe(JSON.stringify(a[i]).replace(a[i].image, ''));
      if (t.meta.id === 'web-1') return;
      expect(new URL(t.image).searchParams.get('X-Goog-Date')).toBe(new Date(later).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, ''));
      expect(verifyV4(t.image, keyB.publicKey)).toBe(true);
    });
  });

  it('resign from the CLI signs with ADC (a key file) and prints only the new URIs', async () => {
    const keyFile = path.join(dir, 'sa.json');
    writeFileSync(keyFile, JSON.stringify({ type: 'service_account', project_id: 'reviewloop-test', ...keyA.credentials }));
    const cfg = path.join(dir, 'cfg.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        storage: { root: `gs://${bucket.name}/root`, apiEndpoint: gcsEndpoint() },
        stats: { sink: 'none' },
        projects: [
          {
            name: 'pets',
            task: 'image',
            labels: ['cat', 'dog'],
            strategy: { name: 'least-confidence', topK: 6 },
            queue: { signedUrlTtlSeconds: TTL, annotators: ['ann', 'bob'] },
          },
        ],
      }),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: keyFile };
    delete env.STORAGE_EMULATOR_HOST;
    const { stdout, stderr } = await run(process.execPath, ['bin/reviewloop.js', 'resign', '--round', ROUND, '-c', cfg, '--ttl-seconds', '600'], {
      cwd: REPO,
      env,
    });
    const base = `gs://${bucket.name}/root/pets/rounds/${ROUND}`;
    expect(stdout).toBe(`${base}/queue.resigned-3.jsonl\n${base}/queue-ann.resigned-3.jsonl\n${base}/queue-bob.resigned-3.jsonl\n`);
    const signed = lines(await store.read(`rounds/${ROUND}/queue.resigned-3.jsonl`)).filter((t) => t.meta.id !== 'web-1');
    expect(signed.length).toBe(5);
    for (const t of signed) {
      const u = new URL(t.image);
      expect(u.searchParams.get('X-Goog-Expires')).toBe('600');
      // The config names the emulator as storage.apiEndpoint, so the URLs point there. The client signs the
      // host without its port (signer.js), exact for private endpoints on 443; emulators check no signatures.
      expect(u.host).toBe(new URL(gcsEndpoint()).host);
      expect(verifyV4(t.image, keyA.publicKey, u.hostname)).toBe(true);
    }
    expect(stderr).not.toMatch(/X-Goog-Signature=[0-9a-f]/);
  });

  it('queue cat prints the queue byte for byte while its URLs have more than an hour left', async () => {
    const original = await store.read(`rounds/${ROUND}/queue.jsonl`);
    const r = await catQueue({ project, store, roundId: ROUND, signer: { credentials: keyB.credentials, now: () => t0 + 3_600_000 } });
    expect(r.resigned).toBe(0);
    expect(`${r.lines.join('\n')}\n`).toBe(original.toString());
  });

  it('queue cat signs afresh the URLs expiring within the hour: same order, hashes and other bytes', async () => {
    const near = t0 + TTL * 1000 - 30 * 60_000;
    const a = lines(await store.read(`rounds/${ROUND}/queue-ann.jsonl`));
    const r = await catQueue({
      project,
      store,
      roundId: ROUND,
      annotator: 'ann',
      signer: { credentials: keyB.credentials, now: () => near },
      logger: logs.logger,
    });
    expect(r.file).toBe(`rounds/${ROUND}/queue-ann.jsonl`);
    const b = r.lines.map((l) => JSON.parse(l) as Record<string, any>);
    expect(b.map((t) => t.meta.id)).toEqual(a.map((t) => t.meta.id));
    expect(r.resigned).toBe(a.filter((t) => t.meta.id !== 'web-1').length);
    b.forEach((t, i) => {
      expect({ ...t, image: null }).toEqual({ ...a[i], image: null });
      expect([t._input_hash, t._task_hash]).toEqual([a[i]._input_hash, a[i]._task_hash]);
      if (t.meta.id === 'web-1') return expect(t.image).toBe(a[i].image);
      expect(signedUrlExpiry(t.image)! - near).toBe(TTL * 1000);
      expect(verifyV4(t.image, keyB.publicKey)).toBe(true);
    });
  });

  it('queue cat refuses a mistyped round or reviewer with a usage error naming the nearest', async () => {
    const typo = await catQueue({ project, store, roundId: '20261101T0201Z' }).catch((e: unknown) => e as { code: string; details: { nearest: string[] } });
    expect(typo).toMatchObject({ code: 'USAGE', details: { nearest: [ROUND] } });
    const pasted = await catQueue({ project, store, roundId: `rounds/${ROUND}/` }).catch((e: unknown) => e as { code: string; details: { nearest: string[] } });
    expect(pasted).toMatchObject({ code: 'USAGE', details: { nearest: [ROUND] } });
    await store.write('rounds/20261102T0200Z/plan.json', '{}');
    const running = await catQueue({ project, store, roundId: '20261102T0200Z' }).catch((e: unknown) => e as { code: string; details: { planned: boolean } });
    expect(running).toMatchObject({ code: 'USAGE', details: { planned: true } });
    await store.delete('rounds/20261102T0200Z/plan.json');
    const who = await catQueue({ project, store, roundId: ROUND, annotator: 'carol' }).catch(
      (e: unknown) => e as { code: string; details: { annotators: string[] } },
    );
    expect(who).toMatchObject({ code: 'USAGE', details: { annotators: ['ann', 'bob'] } });
  });

  it('queue cat from the CLI streams one reviewer queue to stdout; a mistyped round exits 2 naming the nearest', async () => {
    const keyFile = path.join(dir, 'sa.json');
    const cfg = path.join(dir, 'cfg.yaml');
    const env: NodeJS.ProcessEnv = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: keyFile };
    delete env.STORAGE_EMULATOR_HOST;
    const { stdout, stderr } = await run(process.execPath, ['bin/reviewloop.js', 'queue', 'cat', '--round', ROUND, '--annotator', 'bob', '-c', cfg], {
      cwd: REPO,
      env,
    });
    const q = lines(Buffer.from(stdout));
    expect(q.map((t) => t.meta.id)).toEqual(lines(await store.read(`rounds/${ROUND}/queue-bob.jsonl`)).map((t) => t.meta.id));
    // The round's URLs are days from expiry on the wall clock: nothing is signed, nothing said.
    expect(stdout).toBe((await store.read(`rounds/${ROUND}/queue-bob.jsonl`)).toString());
    expect(stderr).not.toMatch(/X-Goog-Signature=[0-9a-f]/);
    const bad = await run(process.execPath, ['bin/reviewloop.js', 'queue', 'cat', '--round', '2026110T0200Z', '-c', cfg], { cwd: REPO, env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain(`nearest known: ${ROUND}`);
  });

  it('logged nothing signed', () => {
    const text = logs.text();
    expect(text).toContain('signed 5 media URL(s), valid until');
    expect(text).not.toMatch(/X-Goog-Signature=(?!REDACTED)/);
    expect(text).not.toContain('X-Goog-Credential=signer');
    expect(text).not.toContain('BEGIN PRIVATE KEY');
  });
});

describe('the logger with signed URLs', () => {
  it('redacts signatures and credentials in messages, fields and errors', async () => {
    const { MediaSigner } = await import('../../worker/media/signing.js');
    const url = await new MediaSigner({ credentials: keyA.credentials }).signRead('gs://b/secret.jpg', 600);
    const sig = new URL(url).searchParams.get('X-Goog-Signature')!;
    const logs = capturingLogger();
    logs.logger.info(`queued ${url}`, { url, nested: { urls: [url] } });
    logs.logger.error('failed', { err: new Error(`GET ${url} answered 403`) });
    logs.logger.child({ media: url }).warn('child');
    const text = logs.text();
    expect(text.split('\n').filter(Boolean)).toHaveLength(3);
    expect(text).not.toContain(sig);
    expect(text).not.toContain('signer-a%40');
    expect(text).toContain('X-Goog-Signature=REDACTED');
  });
});
