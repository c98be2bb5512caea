import { describe, expect, it } from 'vitest';
import { envCount, report } from './lib/common.js';
import { runLivenessCampaign } from './lib/liveness.js';

// `npm run chaos -- --only liveness --liveness-iterations 150` runs the long version (RL_CHAOS_LIVENESS_ITERATIONS);
// npm test runs 4 iterations (every poison kind of objects and exports at least once).
const ITERATIONS = envCount('RL_CHAOS_LIVENESS_ITERATIONS', 4);
const SEED = envCount('RL_CHAOS_SEED', 1);
const BOUND_MS = envCount('RL_CHAOS_LIVENESS_BOUND_MS', 60_000);

describe('liveness campaign: poison objects and exports mixed with good ones, round and merge by the CLI', () => {
  it(
    `keeps the loop moving over ${ITERATIONS} rounds and merges: every good record and answer lands, every bad one is listed`,
    async () => {
      // Long runs say where they are (every 10th iteration).
      const log =
        ITERATIONS > 20
          ? (line: string) => {
              process.stdout.write(`[liveness] ${line}\n`);
            }
          : undefined;
      const fig = await runLivenessCampaign({ iterations: ITERATIONS, seed: SEED, boundMs: BOUND_MS, log });
      report(fig);
      expect(fig.violations).toEqual([]);
      expect(fig.tried.iterations).toBe(ITERATIONS);
      expect(fig.held['every run exits 0']).toBe(3 * ITERATIONS);
      expect(fig.held['every poison line is a snapshot reject with object, line, field and reason']).toBeGreaterThan(0);
    },
    120_000 + ITERATIONS * 3 * BOUND_MS,
  );
});
