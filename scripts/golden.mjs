// `node scripts/golden.mjs [--write]`
//
// Proves that a change of shape is a change of shape only: the demo's output
// files and the bench's selected ids must be the same bytes before and after.
// Runs the demo in a fresh folder and `reviewloop score` over the bench's
// seeded input (JSONL and Arrow), hashes what they wrote and compares with
// test/golden/outputs.json (--write records it instead).
//
// What varies between two honest runs is replaced in the bytes before hashing,
// and nothing else: the run's folder (rows name their source by path), the
// values of `generation`, `updatedMax` and a media round's `mediaSignedAt`
// (they come from the clock) and of
// `sha256` (it hashes files that contain the folder). Claims are named by a
// hash of the generation, so they are left out; every other byte counts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { convert, generate } from './lib/bench-data.mjs';
import { BIN, ROOT } from './lib/dist-paths.mjs';

const GOLDEN = join(ROOT, 'test', 'golden', 'outputs.json');
/** `"generation": "1796…"` and the like: the value goes, the key and every byte around it stay. */
const VOLATILE = /("(?:generation|updatedMax|mediaSignedAt|sha256)"\s*:\s*)"[^"]*"/g;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function normalised(file, dir) {
  return readFileSync(file).toString('latin1').split(dir).join('<DIR>').replace(VOLATILE, '$1"<VOLATILE>"');
}

function run(args, opts = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  if (r.status !== 0) throw new Error(`reviewloop ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

const sha = (s) => createHash('sha256').update(s).digest('hex');

async function collect(work) {
  const hashes = {};
  const demo = join(work, 'demo');
  run(['demo', '--dir', demo]);
  for (const file of walk(demo).sort()) {
    const rel = relative(demo, file).split(sep).join('/');
    if (rel.includes('.reviewloop-tmp/') || rel.includes('/state/claims/') || /\.duckdb(\.wal)?$/.test(rel)) continue;
    hashes[`demo/${rel}`] = sha(normalised(file, demo));
  }
  const jsonl = join(work, 'bench.jsonl');
  const arrow = join(work, 'bench.arrow');
  await generate(jsonl, 20000, 42);
  await convert(jsonl, arrow, join(work, 'bench.parquet'));
  for (const [name, input] of [
    ['jsonl', jsonl],
    ['arrow', arrow],
    ['parquet', join(work, 'bench.parquet', 'part-00000.parquet')],
  ]) {
    const out = run([
      'score',
      input,
      '--task',
      'textcat',
      '--strategy',
      'entropy',
      '--top',
      '500',
      '--labels',
      'billing,shipping,returns,account,technical,other',
    ]);
    hashes[`bench/${name}-top500-ids`] = sha(
      out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).id)
        .join('\n'),
    );
  }
  return hashes;
}

const work = mkdtempSync(join(tmpdir(), 'rl-golden-'));
try {
  const got = await collect(work);
  if (process.argv.includes('--write')) {
    writeFileSync(GOLDEN, `${JSON.stringify(got, null, 2)}\n`);
    console.log(`wrote ${Object.keys(got).length} hashes to ${relative(ROOT, GOLDEN)}`);
  } else {
    const want = JSON.parse(readFileSync(GOLDEN, 'utf8'));
    const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])].sort();
    const diff = keys.filter((k) => want[k] !== got[k]);
    for (const k of diff) console.log(`differs: ${k} (golden ${want[k]?.slice(0, 12) ?? 'absent'}, now ${got[k]?.slice(0, 12) ?? 'absent'})`);
    console.log(`golden: ${keys.length - diff.length} same, ${diff.length} different`);
    process.exitCode = diff.length === 0 ? 0 : 1;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
