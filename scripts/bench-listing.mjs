// `node scripts/bench-listing.mjs [--objects N] [--folders F] [--repeat R] [--backend filesystem|memory]` (after `npm run build`)
//
// How long a full listing of a prefix takes on fake-gcs-server (127.0.0.1 only): N small objects
// spread over F date folders are seeded through the emulator's `-data` folder (uploading 10^5 objects
// one by one is quadratic in its memory backend), then the prefix is listed R times through
// reviewloop's GcsStore (1,000 names a page, as on Cloud Storage) and once from the newest folder
// (what an incremental listing reads). Prints wall times and objects/s; docs/gcs.md quotes the figure
// for the listing default it justifies. The emulator builds its whole object list for every page, so
// its time grows with N per page: an upper bound for Cloud Storage, which serves pages from an index.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { installEmulator } from './emulators.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const N = Number(arg('objects', '100000'));
const FOLDERS = Number(arg('folders', '100'));
const REPEAT = Math.max(1, Number(arg('repeat', '3')));
const BACKEND = arg('backend', 'filesystem');

if (!existsSync(join(ROOT, 'dist', 'worker', 'store', 'gcs-store.js'))) {
  console.error('[bench-listing] run "npm run build" first');
  process.exit(2);
}
const { GcsStore } = await import(pathToFileURL(join(ROOT, 'dist', 'worker', 'store', 'gcs-store.js')).href);

const freePort = () =>
  new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });

installEmulator('gcs');
const work = mkdtempSync(join(tmpdir(), 'rl-bench-listing-'));
const bucket = 'bench-listing';
let child;
try {
  let t = performance.now();
  for (let i = 0; i < N; i++) {
    const folder = join(work, 'seed', bucket, 'root', 'p', 'predictions', `2026-${String(i % FOLDERS).padStart(4, '0')}`);
    if (i < FOLDERS) mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `part-${String(i).padStart(7, '0')}.jsonl`), '{"id":"x","probs":{"a":0.5,"b":0.5}}\n');
  }
  console.log(`seed files for ${N} objects in ${FOLDERS} folders: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  t = performance.now();
  child = spawn(
    join(ROOT, '.cache', 'bin', 'fake-gcs-server'),
    [
      '-scheme',
      'http',
      '-backend',
      BACKEND,
      ...(BACKEND === 'filesystem' ? ['-filesystem-root', join(work, 'fs')] : []),
      '-data',
      join(work, 'seed'),
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-public-host',
      `127.0.0.1:${port}`,
      '-external-url',
      endpoint,
      '-log-level',
      'warn',
    ],
    { stdio: 'ignore' },
  );
  for (;;) {
    if (child.exitCode !== null) throw new Error(`fake-gcs-server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${endpoint}/storage/v1/b`, { signal: AbortSignal.timeout(2000) })).ok) break;
    } catch {
      /* still loading the seed */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(`fake-gcs-server ${BACKEND} backend loaded the seed in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const store = new GcsStore(`gs://${bucket}/root/p`, { apiEndpoint: endpoint });
  const times = [];
  for (let r = 0; r < REPEAT; r++) {
    const t0 = performance.now();
    let count = 0;
    for await (const o of store.list('predictions/')) if (o.generation) count++;
    const ms = performance.now() - t0;
    if (count !== N) throw new Error(`listed ${count}, expected ${N}`);
    times.push(ms);
    console.log(
      `full listing #${r + 1}: ${count} objects in ${(ms / 1000).toFixed(2)} s (${Math.round(count / (ms / 1000))} objects/s, ${(ms / Math.ceil(N / 1000)).toFixed(0)} ms a page)`,
    );
  }
  times.sort((a, b) => a - b);
  const newest = `predictions/2026-${String(FOLDERS - 1).padStart(4, '0')}/`;
  const t1 = performance.now();
  let inc = 0;
  for await (const o of store.list('predictions/', { startOffset: newest })) if (o.generation) inc++;
  console.log(`incremental listing from ${newest}: ${inc} objects in ${((performance.now() - t1) / 1000).toFixed(2)} s`);
  console.log(`median full listing of ${N} objects (${BACKEND} backend): ${(times[Math.floor(times.length / 2)] / 1000).toFixed(2)} s`);
} finally {
  child?.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
