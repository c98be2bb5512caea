// `npm run bench [-- --records N] [-- --top K] [-- --threads N] [-- --formats jsonl,arrow,parquet] [-- --no-baseline] [-- --no-label-issues] [-- --repeat R] [-- --no-segmentation]`
//
// Generates a seeded synthetic file of six-class predictions (native JSONL,
// ~200 bytes a record) under bench/out/, converts it to Arrow IPC and Parquet,
// then runs on the same data in the same run:
//   1. bench/baseline.py: what a user would write (json + numpy, argpartition);
//   2. `reviewloop score FILE.jsonl --strategy entropy --top K`;
//   3. the same over Arrow IPC and over Parquet;
//   4. a label-issue round's three passes (confident learning) over N labelled
//      items with out-of-sample probabilities (scripts/lib/label-issues-run.mjs),
//      whose flagged ids are not comparable to the entropy top-K (--no-label-issues
//      leaves it out). 10^7 items: `npm run bench -- --records 10000000` (minutes).
// Prints records/s, peak RSS (from /proc, polled, children included) and the
// ratio to the baseline, and checks that every run returns the same top-K ids.
// Then scripts/bench-segmentation.mjs prints per-image time and peak RSS for
// segmentation masks at 1024² and 4096² (skip with --no-segmentation).
// With --repeat R every run (the baseline too) goes R times, interleaved, and
// the table shows medians with the fastest and slowest wall times: shared
// 2-vCPU machines drift by 2x within minutes, and one run can land anywhere.
// numpy is installed into a venv under bench/out/ when `python3 -c 'import numpy'` fails.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'out');
import { LABELS, convert, generate } from './lib/bench-data.mjs';
import { DIST_CLI } from './lib/dist-paths.mjs';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}
const RECORDS = Number(arg('records', '1000000'));
const TOP = Number(arg('top', '1000'));
const THREADS = arg('threads', undefined);
const SEED = Number(arg('seed', '42'));
/** Which reviewloop inputs to run; the Arrow/Parquet conversion (slow at 10M) only happens when one of them is asked for. */
const FORMATS = new Set(arg('formats', 'jsonl,arrow,parquet').split(','));
const BASELINE = !process.argv.includes('--no-baseline');
const REPEAT = Math.max(1, Number(arg('repeat', '1')));
const LABEL_ISSUES = !process.argv.includes('--no-label-issues');

if (!existsSync(DIST_CLI)) {
  console.error('[bench] run "npm run build" first');
  process.exit(2);
}
/**
 * Runs a command under /usr/bin/time -v (peak RSS of the process, worker
 * threads included, and CPU seconds); without it, polls /proc for the RSS.
 */
function measure(cmd, args, env = process.env) {
  const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
  return new Promise((done, fail) => {
    const t0 = process.hrtime.bigint();
    const child = timeBin
      ? spawn(timeBin, ['-v', cmd, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    let peak = 0;
    const poll = timeBin
      ? null
      : setInterval(() => {
          peak = Math.max(peak, treeRss(child.pid));
        }, 20);
    child.on('error', fail);
    child.on('exit', (code) => {
      if (poll) clearInterval(poll);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const text = Buffer.concat(err).toString();
      if (code !== 0) return fail(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${text}`));
      let cpu = NaN;
      if (timeBin) {
        peak = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? 0) * 1024;
        cpu = Number(/User time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN) + Number(/System time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
      }
      done({ seconds, cpu, peakRss: peak, stdout: Buffer.concat(out).toString() });
    });
  });
}

function treeRss(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function python() {
  if (spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0) return 'python3';
  const venv = join(OUT, 'venv');
  const py = join(venv, 'bin', 'python');
  if (!existsSync(py) || spawnSync(py, ['-c', 'import numpy'], { stdio: 'ignore' }).status !== 0) {
    console.log('[bench] numpy missing: installing it into bench/out/venv');
    if (spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status !== 0) throw new Error('python3 -m venv failed');
    if (spawnSync(py, ['-m', 'pip', 'install', '--quiet', 'numpy'], { stdio: 'inherit' }).status !== 0) throw new Error('pip install numpy failed');
  }
  return py;
}

const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;
const rate = (n, s) => `${(n / s / 1e6).toFixed(2)} M rec/s`;

async function main() {
  mkdirSync(OUT, { recursive: true });
  const base = join(OUT, `synthetic-${RECORDS}-s${SEED}`);
  const jsonl = `${base}.jsonl`;
  const arrowFile = `${base}.arrow`;
  const parquetDir = `${base}.parquet.d`;
  if (!existsSync(jsonl)) {
    console.log(`[bench] generating ${RECORDS} records → ${jsonl}`);
    await generate(`${jsonl}.tmp`, RECORDS, SEED);
    (await import('node:fs')).renameSync(`${jsonl}.tmp`, jsonl);
  }
  const columnar = FORMATS.has('arrow') || FORMATS.has('parquet');
  if (columnar && (!existsSync(arrowFile) || !existsSync(parquetDir))) {
    console.log('[bench] converting to Arrow IPC and Parquet');
    const fs = await import('node:fs');
    fs.rmSync(`${parquetDir}.tmp`, { recursive: true, force: true });
    await convert(jsonl, `${arrowFile}.tmp`, `${parquetDir}.tmp`);
    fs.rmSync(parquetDir, { recursive: true, force: true });
    fs.renameSync(`${parquetDir}.tmp`, parquetDir);
    fs.renameSync(`${arrowFile}.tmp`, arrowFile);
  }
  const sizes = [`JSONL ${mb(statSync(jsonl).size)}`];
  if (columnar)
    sizes.push(`Arrow ${mb(statSync(arrowFile).size)}`, `Parquet ${mb(readdirSync(parquetDir).reduce((a, f) => a + statSync(join(parquetDir, f)).size, 0))}`);
  console.log(
    `[bench] ${RECORDS} records; ${sizes.join(', ')}; load average ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  const rl = (inputs) => [
    'bin/reviewloop.js',
    'score',
    ...inputs,
    '--task',
    'textcat',
    '--strategy',
    'entropy',
    '--labels',
    LABELS.join(','),
    '--top',
    String(TOP),
    ...(THREADS ? ['--threads', THREADS] : []),
  ];
  const plan = [];
  if (BASELINE)
    plan.push({
      name: 'python baseline (json + numpy)',
      cmd: python(),
      args: [join(ROOT, 'bench', 'baseline.py'), jsonl, '--labels', LABELS.join(','), '--top', String(TOP)],
      ids: (out) => out.trim().split('\n'),
    });
  for (const [f, name, inputs] of [
    ['jsonl', 'reviewloop JSONL', [jsonl]],
    ['arrow', 'reviewloop Arrow IPC', [arrowFile]],
    ['parquet', 'reviewloop Parquet', [parquetDir]],
  ]) {
    if (FORMATS.has(f))
      plan.push({
        name,
        cmd: process.execPath,
        args: rl(inputs),
        ids: (out) =>
          out
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l).id),
      });
  }
  if (LABEL_ISSUES) {
    const labelled = join(OUT, `labelled-${RECORDS}-s${SEED}`);
    if (!existsSync(`${labelled}.labels.jsonl`)) {
      console.log(`[bench] generating ${RECORDS} labelled items → ${labelled}.jsonl`);
      const { generateLabelled } = await import('./lib/label-bench-data.mjs');
      await generateLabelled(`${labelled}.jsonl`, `${labelled}.labels.tmp`, RECORDS, SEED);
      (await import('node:fs')).renameSync(`${labelled}.labels.tmp`, `${labelled}.labels.jsonl`);
    }
    plan.push({
      name: 'reviewloop label-issues (3 pass)',
      cmd: process.execPath,
      compare: false,
      args: [
        join(ROOT, 'scripts', 'lib', 'label-issues-run.mjs'),
        `${labelled}.jsonl`,
        `${labelled}.labels.jsonl`,
        '--top',
        String(TOP),
        ...(THREADS ? ['--threads', THREADS] : []),
      ],
      ids: (out) =>
        out
          .trim()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l).id),
    });
  }
  // Rounds interleave the runs, so a slow spell of the machine hits all of them alike.
  const samples = plan.map(() => []);
  for (let round = 0; round < REPEAT; round++) {
    for (let i = 0; i < plan.length; i++) samples[i].push(await measure(plan[i].cmd, plan[i].args));
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
  const results = plan.map((p, i) => {
    const runs = samples[i];
    const wall = runs.map((r) => r.seconds);
    return {
      name: p.name,
      compare: p.compare !== false,
      seconds: median(wall),
      min: Math.min(...wall),
      max: Math.max(...wall),
      cpu: median(runs.map((r) => r.cpu)),
      peakRss: Math.max(...runs.map((r) => r.peakRss)),
      ids: p.ids(runs[0].stdout),
      sameEveryTime: runs.every((r) => r.stdout === runs[0].stdout),
    };
  });

  // Without the baseline, ratios and the id check are against the first reviewloop run.
  const b = results[0];
  console.log('');
  console.log(
    `load average after: ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  if (REPEAT > 1) console.log(`${REPEAT} runs each, interleaved: median wall (fastest–slowest), median CPU, highest peak RSS`);
  console.log(
    `${'run'.padEnd(32)} ${'wall s'.padStart(8)} ${REPEAT > 1 ? `${'range s'.padStart(12)} ` : ''}${'records/s'.padStart(16)} ${'CPU s'.padStart(7)} ${'peak RSS'.padStart(9)} ${(BASELINE ? 'vs baseline' : 'vs first').padStart(12)}  same top-${TOP}`,
  );
  let allSame = true;
  for (const r of results) {
    if (!r.compare) {
      console.log(
        `${r.name.padEnd(32)} ${r.seconds.toFixed(2).padStart(8)} ${REPEAT > 1 ? `${`${r.min.toFixed(2)}–${r.max.toFixed(2)}`.padStart(12)} ` : ''}${rate(RECORDS, r.seconds).padStart(16)} ${r.cpu.toFixed(2).padStart(7)} ${mb(r.peakRss).padStart(9)} ${`${(b.seconds / r.seconds).toFixed(1)}x`.padStart(12)}  n/a (flags label errors)${r.sameEveryTime ? '' : ', NOT the same every run'}`,
      );
      allSame &&= r.sameEveryTime;
      continue;
    }
    const same = r.sameEveryTime && r.ids.length === b.ids.length && r.ids.every((id, i) => id === b.ids[i]);
    const sameSet = same || (r.ids.length === b.ids.length && new Set(r.ids).size === new Set([...r.ids, ...b.ids]).size);
    allSame &&= sameSet;
    const range = REPEAT > 1 ? `${`${r.min.toFixed(2)}–${r.max.toFixed(2)}`.padStart(12)} ` : '';
    console.log(
      `${r.name.padEnd(32)} ${r.seconds.toFixed(2).padStart(8)} ${range}${rate(RECORDS, r.seconds).padStart(16)} ${r.cpu.toFixed(2).padStart(7)} ${mb(r.peakRss).padStart(9)} ${`${(b.seconds / r.seconds).toFixed(1)}x`.padStart(12)}  ${same ? 'yes (same order)' : sameSet ? 'yes (same set)' : 'NO'}`,
    );
  }
  if (!allSame) {
    console.error('[bench] top-K ids differ between runs');
    process.exitCode = 1;
  }
  if (!process.argv.includes('--no-segmentation')) {
    // Segmentation is per image, not per record: its own table (scripts/bench-segmentation.mjs).
    console.log('');
    const seg = spawnSync(process.execPath, [join(ROOT, 'scripts', 'bench-segmentation.mjs')], { stdio: 'inherit' });
    if (seg.status !== 0) process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
