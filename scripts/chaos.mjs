// `npm run chaos`: the long versions of the reliability campaigns in test/campaigns/, with counts as flags.
//   npm run chaos -- --kills 200 --fault-rate 0.1 --fault-runs 20 --outages 20 --replicas 4 --iterations 5 --fuzz-runs 100000 --diff-runs 5000 --liveness-iterations 150 [--seed 1] [--only crash,faults]
// Builds, starts fake-gcs-server (for the fault campaign), runs the campaign tests under vitest with the
// counts in RL_CHAOS_* variables, then prints every campaign's figures. Exit 1 when any invariant broke.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startEmulators } from './emulators.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test-results', 'chaos');
const CAMPAIGNS = {
  crash: { file: 'test/campaigns/crash.test.ts', figures: 'crash' },
  faults: { file: 'test/campaigns/storage-faults.test.ts', figures: 'storage-faults', gcs: true },
  concurrency: { file: 'test/campaigns/concurrency.test.ts', figures: 'concurrency' },
  'bad-input': { file: 'test/campaigns/bad-input.test.ts', figures: 'bad-input' },
  differential: { file: 'test/campaigns/differential.test.ts', figures: 'differential' },
  security: { file: 'test/campaigns/security.test.ts' },
  liveness: { file: 'test/campaigns/liveness.test.ts', figures: 'liveness' },
};

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '200' },
    'fault-rate': { type: 'string', default: '0.1' },
    'fault-runs': { type: 'string', default: '20' },
    outages: { type: 'string', default: '20' },
    replicas: { type: 'string', default: '4' },
    iterations: { type: 'string', default: '5' },
    'fuzz-runs': { type: 'string', default: '100000' },
    'diff-runs': { type: 'string', default: '5000' },
    'liveness-iterations': { type: 'string', default: '150' },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(0, 4)
      .join('\n')
      .replace(/^\/\/ ?/gm, ''),
  );
  process.exit(0);
}
const selected = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(CAMPAIGNS);
for (const s of selected)
  if (!CAMPAIGNS[s]) {
    console.error(`unknown campaign "${s}" (known: ${Object.keys(CAMPAIGNS).join(', ')})`);
    process.exit(2);
  }

function run(cmd, args, env = process.env) {
  return new Promise((done) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: 'inherit' });
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
    child.on('error', (err) => {
      console.error(err);
      done(1);
    });
  });
}

const env = {
  ...process.env,
  RL_CHAOS_OUT: OUT,
  RL_CHAOS_SEED: values.seed,
  RL_CHAOS_KILLS: values.kills,
  RL_CHAOS_FAULT_RATE: values['fault-rate'],
  RL_CHAOS_FAULT_RUNS: values['fault-runs'],
  RL_CHAOS_OUTAGES: values.outages,
  RL_CHAOS_REPLICAS: values.replicas,
  RL_CHAOS_ITERATIONS: values.iterations,
  RL_CHAOS_FUZZ_RUNS: values['fuzz-runs'],
  RL_CHAOS_DIFF_RUNS: values['diff-runs'],
  RL_CHAOS_LIVENESS_ITERATIONS: values['liveness-iterations'],
  METADATA_SERVER_DETECTION: 'none',
};
delete env.STORAGE_EMULATOR_HOST;

let emulators;
let code = 1;
try {
  if ((await run('npm', ['run', 'build'])) !== 0) throw new Error('build failed');
  if (selected.some((s) => CAMPAIGNS[s].gcs)) {
    emulators = await startEmulators({ gcs: true, bq: false });
    env.RL_GCS_ENDPOINT = emulators.gcsEndpoint;
    // The helpers insist on all three, even when only GCS is used.
    env.RL_BQ_ENDPOINT = 'http://127.0.0.1:1';
    env.RL_BQ_PROJECT = 'reviewloop-test';
  }
  for (const s of selected) if (CAMPAIGNS[s].figures) rmSync(join(OUT, `${CAMPAIGNS[s].figures}.json`), { force: true });
  // One file at a time: the campaigns measure themselves, and the crash and concurrency ones spawn their own processes.
  code = await run('npx', ['vitest', 'run', '--testTimeout=0', '--hookTimeout=0', '--no-file-parallelism', ...selected.map((s) => CAMPAIGNS[s].file)], env);
} catch (err) {
  console.error('[chaos]', err?.stack ?? err);
} finally {
  await emulators?.stop();
}

console.log('\n=== reliability campaigns: figures ===');
for (const s of selected) {
  const f = CAMPAIGNS[s].figures && join(OUT, `${CAMPAIGNS[s].figures}.json`);
  if (!f) continue;
  if (!existsSync(f)) {
    console.log(`${s}: no figures (the campaign did not finish)`);
    code ||= 1;
    continue;
  }
  const fig = JSON.parse(readFileSync(f, 'utf8'));
  console.log(`\n${fig.campaign} (seed ${fig.seed}, ${(fig.elapsedMs / 1000).toFixed(0)} s)`);
  console.log(
    `  tried: ${Object.entries(fig.tried)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}`,
  );
  console.log(
    `  held:  ${Object.entries(fig.held)
      .map(([k, v]) => `${k} ×${v}`)
      .join('; ')}`,
  );
  if (Object.keys(fig.notes).length)
    console.log(
      `  notes: ${Object.entries(fig.notes)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`,
    );
  console.log(`  violations: ${fig.violations.length === 0 ? 'none' : fig.violations.join('\n    ')}`);
  if (fig.violations.length) code ||= 1;
}
process.exit(code);
