// `npm test`: lint and dependency gates → build → start the emulators → vitest → stop them → the unit tier once more with
// REVIEWLOOP_NATIVE=0 (the JS scoring path, proven rather than assumed) → print "N passed, N failed" last.
// Extra arguments go to vitest (e.g. `npm test -- test/unit`); the JS-only rerun is then left out.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulators } from './emulators.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'test-results', 'vitest.json');
const JS_RESULTS = join(ROOT, 'test-results', 'vitest-js-only.json');
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let emulators;
let child;
let interrupted = false;

function run(cmd, args, env = process.env) {
  return new Promise((done) => {
    child = spawn(cmd, args, { cwd: ROOT, env, stdio: 'inherit' });
    child.on('exit', (code, signal) => {
      child = undefined;
      done(code ?? (signal ? 1 : 0));
    });
    child.on('error', (err) => {
      console.error(err);
      child = undefined;
      done(1);
    });
  });
}

async function stopAll() {
  const e = emulators;
  emulators = undefined;
  if (e) await e.stop().catch((err) => console.error('[test] stopping emulators:', err));
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    interrupted = true;
    child?.kill(sig);
    await stopAll();
    console.log('0 passed, 1 failed');
    process.exit(130);
  });
}

/** Counts from the JSON reporter; a suite that failed to load has no failed tests, so it counts as one failure. */
function tally(file) {
  if (!existsSync(file)) return { passed: 0, failed: 1, note: `no vitest JSON report was written (${file})` };
  const r = JSON.parse(readFileSync(file, 'utf8'));
  let failed = r.numFailedTests ?? 0;
  for (const suite of r.testResults ?? []) {
    const assertions = suite.assertionResults ?? [];
    if (suite.status === 'failed' && !assertions.some((a) => a.status === 'failed')) failed += 1;
  }
  return { passed: r.numPassedTests ?? 0, failed };
}

/**
 * The report test renders in headless Chromium (Debian package `chromium`). A fresh
 * machine has none: install it when we can (root + apt), else say what is missing.
 */
async function ensureChromium() {
  if (process.env.RL_CHROMIUM || existsSync('/usr/bin/chromium')) return;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    console.error('[test] chromium is missing and this is not root: install the Debian package `chromium` (the report test will fail)');
    return;
  }
  const t0 = Date.now();
  console.error('[test] installing chromium (Debian package) for the report test');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (
    (await run('apt-get', ['update', '-qq'], env)) !== 0 ||
    (await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], env)) !== 0
  ) {
    console.error('[test] chromium install failed (the report test will fail)');
    return;
  }
  console.error(`[test] chromium installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/**
 * Whether `npm run build` could compile the native module (a C compiler and Node's headers, as
 * scripts/build-native.mjs looks for them). Then the tests require it to load: a module that
 * vanished from such a build would otherwise only make the native tests skip.
 */
function nativeBuildable() {
  const cc = spawnSync(process.env.CC ?? 'cc', ['--version'], { stdio: 'ignore' });
  if (cc.error !== undefined || cc.status !== 0) return false;
  return [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].some((d) =>
    existsSync(join(d, 'node_api.h')),
  );
}

/** vitest with the JSON reporter into `file`; returns the tally, a non-zero exit without failed tests counting as one failure. */
async function vitest(args, env, file) {
  mkdirSync(dirname(file), { recursive: true });
  rmSync(file, { force: true });
  const code = await run(npx, ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${file}`, ...args], env);
  const counts = tally(file);
  if (code !== 0 && counts.failed === 0) return { ...counts, failed: 1, note: `vitest exited with ${code}` };
  return counts;
}

/** The lint gate (biome, function lengths) and the dependency rules: each counts as one test. */
async function gates() {
  const out = { passed: 0, failed: 0 };
  for (const [name, script] of [
    ['lint', 'lint'],
    ['dependency rules', 'depcheck'],
  ]) {
    const code = await run(npm, ['run', '-s', script]);
    if (code === 0) out.passed++;
    else {
      out.failed++;
      console.error(`[test] ${name} failed: run \`npm run ${script}\``);
    }
  }
  return out;
}

async function main() {
  const gate = await gates();
  const counts = await suites();
  return { ...counts, passed: counts.passed + gate.passed, failed: counts.failed + gate.failed };
}

async function suites() {
  await ensureChromium();
  const buildCode = await run(npm, ['run', 'build']);
  if (buildCode !== 0) {
    console.error('[test] build (tsc) failed');
    return { passed: 0, failed: 1 };
  }
  const t0 = Date.now();
  emulators = await startEmulators({ gcs: true, bq: true });
  if (emulators.installMs > 0) console.error(`[test] emulator install took ${(emulators.installMs / 1000).toFixed(1)} s`);
  console.error(`[test] emulators up in ${((Date.now() - t0) / 1000).toFixed(1)} s: gcs ${emulators.gcsEndpoint}, bq ${emulators.bqEndpoint}`);
  if (interrupted) return { passed: 0, failed: 1 };
  const env = {
    ...process.env,
    RL_GCS_ENDPOINT: emulators.gcsEndpoint,
    RL_BQ_ENDPOINT: emulators.bqEndpoint,
    RL_BQ_PROJECT: emulators.bqProjectId,
    METADATA_SERVER_DETECTION: 'none',
    GOOGLE_CLOUD_PROJECT: emulators.bqProjectId,
  };
  // The storage client builds a wrong base URL from it; tests pass apiEndpoint explicitly instead.
  delete env.STORAGE_EMULATOR_HOST;
  if (nativeBuildable()) env.REVIEWLOOP_REQUIRE_NATIVE = '1';
  const args = process.argv.slice(2);
  const counts = await vitest(args, env, RESULTS);
  await stopAll();
  if (args.length > 0 || interrupted) return counts;
  // The unit tier needs no emulators; ~35 s on a 2-core machine.
  console.error('[test] the unit tier again with REVIEWLOOP_NATIVE=0 (the JS scoring path)');
  const jsEnv = { ...process.env, REVIEWLOOP_NATIVE: '0' };
  delete jsEnv.REVIEWLOOP_REQUIRE_NATIVE;
  const js = await vitest(['test/unit'], jsEnv, JS_RESULTS);
  console.error(
    `[test] all tiers: ${counts.passed} passed, ${counts.failed} failed; unit tier with REVIEWLOOP_NATIVE=0: ${js.passed} passed, ${js.failed} failed`,
  );
  const note = [counts.note, js.note && `JS-only run: ${js.note}`].filter(Boolean).join('; ');
  return { passed: counts.passed + js.passed, failed: counts.failed + js.failed, ...(note ? { note } : {}) };
}

let result;
try {
  result = await main();
} catch (err) {
  console.error('[test]', err?.stack ?? err);
  result = { passed: 0, failed: 1 };
} finally {
  await stopAll();
}
if (result.note) console.error(`[test] ${result.note}`);
if (result.passed + result.failed === 0) console.error('[test] no tests ran');
// Nothing may print after this line: CI reads it as the summary.
console.log(`${result.passed} passed, ${result.failed} failed`);
process.exit(result.failed > 0 || result.passed === 0 ? 1 : 0);
