#!/usr/bin/env node
/**
 * The built CLI with every scoring chunk of the daemon's rounds held for
 * HOLD_MS before it is scored: `node held-chunks-cli.mjs HOLD_MS run -c rl.yaml`.
 * The hold is a main-thread wait that no abort and no thread teardown ends,
 * so a test can signal a round that is provably in progress, or meet a job
 * that never finishes. It changes timing only, never output.
 */
import { main } from '../../dist/worker/cli/main.js';

const [node, , holdArg, ...args] = process.argv;
const holdMs = Number(holdArg);
if (!(holdMs > 0)) throw new Error(`usage: held-chunks-cli.mjs HOLD_MS COMMAND...; got ${JSON.stringify(holdArg)}`);

/** The pool with `score` held; `recycle` goes to the real pool, whose threads it replaces. */
function heldPool(pool) {
  const wrapped = Object.create(pool);
  wrapped.score = async (input) => {
    await new Promise((r) => setTimeout(r, holdMs));
    return pool.score(input);
  };
  wrapped.recycle = () => pool.recycle();
  return wrapped;
}

main([node, 'reviewloop', ...args], undefined, undefined, { wrapDaemonPool: heldPool }).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exitCode = 70;
  },
);
