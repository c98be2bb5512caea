import { describe, expect, it } from 'vitest';
import { envCount, report } from './lib/common.js';
import { runCrashCampaign } from './lib/crash.js';

// `npm run chaos -- --kills 200` runs the long version (RL_CHAOS_KILLS); npm test runs 20 kill points.
const KILLS = envCount('RL_CHAOS_KILLS', 20);
const SEED = envCount('RL_CHAOS_SEED', 1);

describe('crash campaign: SIGKILL round and merge at seeded points, rerun', () => {
  it(
    `survives ${KILLS} kill points with outputs identical to an uninterrupted run`,
    async () => {
      const fig = await runCrashCampaign({ kills: KILLS, seed: SEED });
      report(fig);
      expect(fig.violations).toEqual([]);
      expect(fig.tried.kills).toBeGreaterThanOrEqual(KILLS);
      expect(fig.held['outputs byte-identical to the uninterrupted run']).toBeGreaterThanOrEqual(4);
    },
    120_000 + KILLS * 10_000,
  );
});
