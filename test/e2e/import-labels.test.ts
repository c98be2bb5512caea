import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/reviewloop.js');

function cli(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, REVIEWLOOP_DEBUG: '' }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('reviewloop import-labels as a user runs it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rl-import-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, 'reviewloop.yaml'),
    'storage: { root: ./data }\nstats: { sink: none }\nprojects:\n  - name: tickets\n    task: textcat\n    labels: [billing, shipping, other]\n    strategy: { name: label-issues, topK: 10 }\n',
  );
  writeFileSync(
    path.join(dir, 'train.jsonl'),
    `${[
      { id: 'a', label: 'billing', text: 'A' },
      { id: 'b', label: 'refund', text: 'B' },
      { id: 'c', label: 'other', text: 'C' },
      { id: 'c', label: 'shipping', text: 'C' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n')}\n`,
  );

  it('imports once, lists bad rows with file, line, field and reason, and a second run writes nothing', () => {
    expect(existsSync(path.join(ROOT, 'dist/worker/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    const first = cli(['import-labels', 'train.jsonl', '-c', 'reviewloop.yaml'], dir);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toContain('snapshot v1 written: 1 label(s) imported');
    expect(first.err).toContain('train.jsonl line 2: label: "refund" is not one of the project\'s labels');
    expect(first.err).toMatch(/train\.jsonl line 3: label: id "c" has conflicting labels/);
    expect(first.err).toMatch(/train\.jsonl line 4: label: id "c" has conflicting labels/);
    const again = cli(['import-labels', 'train.jsonl', '-c', 'reviewloop.yaml'], dir);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toContain('nothing new to import');
    expect(readdirSync(path.join(dir, 'data/tickets/snapshots')).filter((n) => n.startsWith('v'))).toEqual(['v000001']);
  });

  it('a file that does not exist is a usage error (exit 2)', () => {
    const r = cli(['import-labels', 'missing.jsonl', '-c', 'reviewloop.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('missing.jsonl: no such file');
  });

  it('a truncated .gz label file is a usage error (exit 2) naming the file, not an internal one', () => {
    writeFileSync(path.join(dir, 'cut.jsonl.gz'), gzipSync(Buffer.from('{"id":"a","label":"billing","text":"A"}\n'.repeat(50))).subarray(0, 40));
    const r = cli(['import-labels', 'cut.jsonl.gz', '-c', 'reviewloop.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain('cut.jsonl.gz: cannot be read as gzip');
  });
});
