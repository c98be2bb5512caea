import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

describe('the golden outputs (scripts/golden.mjs)', () => {
  it("the demo's output files and the bench's selected ids hash as recorded in test/golden/outputs.json", async () => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    const r = await run(process.execPath, ['scripts/golden.mjs'], { cwd: ROOT, maxBuffer: 1 << 24 }).catch((e: { stdout: string; code: number }) => e);
    const last = r.stdout.trim().split('\n').at(-1);
    expect(r.stdout).not.toContain('differs:');
    expect(last).toMatch(/^golden: \d+ same, 0 different$/);
  }, 120_000);
});
