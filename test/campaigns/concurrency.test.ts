import { describe, expect, it } from 'vitest';
import { envCount, report } from './lib/common.js';
import { runConcurrencyCampaign } from './lib/concurrency.js';

// `npm run chaos -- --replicas 4 --iterations 5` runs the long version.
const REPLICAS = envCount('RL_CHAOS_REPLICAS', 3);
const ITERATIONS = envCount('RL_CHAOS_ITERATIONS', 2);
const SEED = envCount('RL_CHAOS_SEED', 1);

describe('concurrency campaign: replicas run the same rounds and merges at the same instant', () => {
  it(
    `${REPLICAS} replicas × ${ITERATIONS} iterations: every correction once, one snapshot chain`,
    async () => {
      const fig = await runConcurrencyCampaign({ replicas: REPLICAS, iterations: ITERATIONS, seed: SEED });
      report(fig);
      expect(fig.violations).toEqual([]);
      expect(fig.tried.snapshots).toBe(ITERATIONS);
      expect(fig.held['every export line is in exactly one snapshot']).toBe(ITERATIONS + 1);
    },
    120_000 + REPLICAS * ITERATIONS * 20_000,
  );
});
