import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledModulePath } from '../../worker/core/module-path.js';
import { taskModulePath } from '../../worker/pool/pool.js';

describe('scoring pool lifecycle', () => {
  it('hands piscina a CommonJS task file: its require() of an ES module aborts the process when a thread is closed mid-load', () => {
    expect(taskModulePath()).toMatch(/\.cjs$/);
  });

  it("survives being closed at any moment of its threads' start-up (a usage error right after the early pool started)", () => {
    // In a child process: the abort this guards against (a V8 fatal error) would take the test runner down with it.
    // Before the CommonJS entry, about one run in three of these ~120 cycles aborted.
    const pool = pathToFileURL(compiledModulePath('worker/pool/pool.js')).href;
    const script = `
      const { ScoringPool } = await import(${JSON.stringify(pool)});
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      for (let round = 0; round < 3; round++) for (let delay = 0; delay <= 80; delay += 2) {
        const pool = new ScoringPool({ threads: 2 });
        pool.start();
        await sleep(delay);
        await pool.close();
        await pool.close();
      }
      console.log('survived');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/FATAL/);
    expect([r.status, r.signal, r.stdout.trim()]).toEqual([0, null, 'survived']);
  });
});
