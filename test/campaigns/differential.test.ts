import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { envCount, report } from './lib/common.js';
import { runDifferentialCampaign } from './lib/differential.js';

// `npm run chaos -- --diff-runs 5000` runs the long version; npm test runs a seeded slice.
const RUNS = envCount('RL_CHAOS_DIFF_RUNS', 80);
const SEED = envCount('RL_CHAOS_SEED', 1);
const dir = mkdtempSync(path.join(tmpdir(), 'rl-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('differential campaign: every fast path against a plain reference selection', () => {
  it(
    `${RUNS} seeded score and round runs select exactly what the reference selects`,
    async () => {
      const fig = await runDifferentialCampaign({ runs: RUNS, seed: SEED, roundShare: 0.3, dir });
      report(fig);
      expect(fig.violations).toEqual([]);
      expect((fig.tried['score runs'] ?? 0) + (fig.tried['round runs'] ?? 0)).toBeGreaterThanOrEqual(RUNS);
    },
    60_000 + RUNS * 2_000,
  );
});
