import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScoringPool } from '../../worker/pool/pool.js';
import { envCount, report } from './lib/common.js';
import { runFuzzCampaign } from './lib/fuzz.js';

// `npm run chaos -- --fuzz-runs 100000` runs the long version.
const RUNS = envCount('RL_CHAOS_FUZZ_RUNS', 300);
const SEED = envCount('RL_CHAOS_SEED', 1);

describe('bad input campaign: every parser under property-based fuzzing', () => {
  let pool: ScoringPool;
  beforeAll(() => {
    pool = new ScoringPool({ threads: 1 });
  });
  afterAll(async () => pool.close());

  it(
    `${RUNS} runs per parser end in a value, a typed error or a quarantine`,
    async () => {
      const fig = await runFuzzCampaign({ runs: RUNS, seed: SEED, pool });
      report(fig);
      expect(fig.violations).toEqual([]);
      for (const p of ['normalizeRecord', 'scoreChunkSync', 'chunkLines', 'decompressed', 'parseExportLine', 'parseConfig']) expect(fig.tried[p], p).toBe(RUNS);
      expect(fig.tried['lines.quarantined']).toBeGreaterThan(0);
      expect(fig.tried['objectNames.typed']).toBeGreaterThan(0);
      expect(fig.tried['columnar.typed']).toBeGreaterThan(0);
    },
    180_000 + RUNS * 50,
  );
});
