#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm ci` builds it via `prepare`.
import { main } from '../dist/worker/cli.js';

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err?.stack ?? String(err)); process.exitCode = 70; },
);
