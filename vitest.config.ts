import { defineConfig } from 'vitest/config';

// Integration and e2e suites start child processes and talk to emulators:
// forks isolate them, and generous timeouts absorb a loaded 2-core CI box.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    restoreMocks: true,
  },
});
