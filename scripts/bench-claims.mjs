// `node scripts/bench-claims.mjs [--objects N]` (after `npm run build`)
//
// What plan-time claims cost (worker/round/claims.ts): on fake-gcs-server (127.0.0.1 only), a round claims
// N objects (one create-only write each), a rerun of the same round finds its own claims, and a
// round with another id checks them all and takes none. Prints wall times; docs/reliability.md
// ("Claims") quotes the figure.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEmulators } from './emulators.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--objects');
const N = i === -1 ? 1000 : Number(process.argv[i + 1]);
if (!existsSync(join(ROOT, 'dist', 'worker', 'round', 'claims.js'))) {
  console.error('[bench-claims] run "npm run build" first');
  process.exit(2);
}
const { GcsStore } = await import(pathToFileURL(join(ROOT, 'dist', 'worker', 'store', 'gcs-store.js')).href);
const { claimObjects } = await import(pathToFileURL(join(ROOT, 'dist', 'worker', 'round', 'claims.js')).href);
const { Storage } = await import('@google-cloud/storage');

const emu = await startEmulators({ gcs: true, bq: false });
try {
  const storage = new Storage({
    apiEndpoint: emu.gcsEndpoint,
    projectId: 'reviewloop-bench',
    retryOptions: { autoRetry: false, maxRetries: 0 },
    credentials: { client_email: 'bench@reviewloop.invalid', private_key: 'unused' },
  });
  const bucket = `bench-claims-${Date.now().toString(36)}`;
  await storage.createBucket(bucket);
  const store = new GcsStore(`gs://${bucket}/root`, { apiEndpoint: emu.gcsEndpoint });
  const objects = Array.from({ length: N }, (_, k) => ({ name: `predictions/x/part-${k}.jsonl`, generation: String(1e15 + k) }));
  const time = async (label, fn) => {
    const t = performance.now();
    const held = await fn();
    console.log(`${label}: ${held.length} of ${N} held, ${((performance.now() - t) / 1000).toFixed(2)} s`);
  };
  await time('round r1 claims', () => claimObjects(store, 'r1', objects));
  await time('rerun of r1 finds its claims', () => claimObjects(store, 'r1', objects));
  await time('round r2 checks them', () => claimObjects(store, 'r2', objects));
} finally {
  await emu.stop();
}
