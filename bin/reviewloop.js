#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm ci` builds it via `prepare`.
// The scoring pool starts before the CLI's modules load, so its threads boot meanwhile (early-pool.ts).
import { earlyScorePool } from '../dist/worker/pool/early-pool.js';

const earlyPool = earlyScorePool(process.argv);
const { main } = await import('../dist/worker/cli/main.js');

main(process.argv, undefined, earlyPool).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exitCode = 70;
  },
);
