// Installs (once) and runs the GCS and BigQuery emulators the integration tests talk to.
// Binaries go to the git-ignored .cache/bin/, built from pinned Go module versions, so a fresh
// machine with Go needs nothing installed by hand. Every listener binds 127.0.0.1 only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, '.cache', 'bin');
const LOGS = join(ROOT, '.cache', 'logs');

export const EMULATORS = {
  gcs: { module: 'github.com/fsouza/fake-gcs-server', version: 'v1.56.1', pkg: '.', bin: 'fake-gcs-server' },
  bq: { module: 'github.com/goccy/bigquery-emulator', version: 'v0.8.1', pkg: './cmd/bigquery-emulator', bin: 'bigquery-emulator' },
};

/**
 * Builds one emulator into .cache/bin unless the pinned version is already there.
 * `go install module@version` is not used directly: it asks the module proxy for the module's
 * version list (a deprecation check), which the proxy here refuses for bigquery-emulator. So:
 * `go mod download module@version` (served), then `go install ./pkg` inside that module's
 * directory, with its own go.mod/go.sum. CGO is off: both are pure Go.
 * Returns the build time in ms, or 0 when nothing was built.
 */
export function installEmulator(key, log = console.error) {
  const spec = EMULATORS[key];
  const target = join(BIN, spec.bin);
  const stamp = `${target}.version`;
  if (existsSync(target) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === spec.version) return 0;
  mkdirSync(BIN, { recursive: true });
  const started = Date.now();
  log(`[emulators] building ${spec.module}@${spec.version} into .cache/bin (first time only; bigquery-emulator takes minutes and GBs of RAM)`);
  const env = { ...process.env, GOBIN: BIN, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false', GO111MODULE: 'on' };
  const dl = spawnSync('go', ['mod', 'download', '-json', `${spec.module}@${spec.version}`], { cwd: ROOT, env, encoding: 'utf8' });
  if (dl.status !== 0) throw new Error(`go mod download ${spec.module}@${spec.version} failed:\n${dl.stdout}\n${dl.stderr}`);
  const dir = JSON.parse(dl.stdout).Dir;
  const inst = spawnSync('go', ['install', spec.pkg], { cwd: dir, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (inst.status !== 0) throw new Error(`go install ${spec.module}/${spec.pkg}@${spec.version} failed (exit ${inst.status})`);
  writeFileSync(stamp, `${spec.version}\n`);
  const ms = Date.now() - started;
  log(`[emulators] built ${spec.bin} in ${(ms / 1000).toFixed(1)} s`);
  return ms;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function waitHealthy(url, child, name, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before becoming healthy; see .cache/logs/${name}.log`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err?.cause?.code ?? err);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${name} not healthy at ${url} after ${timeoutMs} ms (${last}); see .cache/logs/${name}.log`);
}

function launch(name, bin, args) {
  mkdirSync(LOGS, { recursive: true });
  const logFile = join(LOGS, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(join(BIN, bin), args, { stdio: ['ignore', fd, fd] });
  child.on('error', () => {});
  return child;
}

function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      done();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts the requested emulators on free 127.0.0.1 ports and waits until they answer.
 * @param {{gcs?: boolean, bq?: boolean, bqProjectId?: string, log?: (msg: string) => void}} [opts]
 * @returns {Promise<{gcsEndpoint?: string, bqEndpoint?: string, bqProjectId: string, installMs: number, stop: () => Promise<void>}>}
 */
export async function startEmulators(opts = {}) {
  const { gcs = true, bq = true, bqProjectId = 'reviewloop-test', log = console.error } = opts;
  let installMs = 0;
  if (gcs) installMs += installEmulator('gcs', log);
  if (bq) installMs += installEmulator('bq', log);
  const children = [];
  // A crash of the parent must not leave emulators behind holding ports.
  const killAll = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    await Promise.all(children.map(stopChild));
  };
  try {
    const out = { bqProjectId, installMs, stop };
    if (gcs) {
      const port = await freePort();
      const hostPort = `127.0.0.1:${port}`;
      const child = launch('fake-gcs-server', EMULATORS.gcs.bin, [
        '-scheme',
        'http',
        '-backend',
        'memory',
        '-host',
        '127.0.0.1',
        '-port',
        String(port),
        '-public-host',
        hostPort,
        '-external-url',
        `http://${hostPort}`,
        '-log-level',
        'warn',
      ]);
      children.push(child);
      out.gcsEndpoint = `http://${hostPort}`;
      await waitHealthy(`${out.gcsEndpoint}/storage/v1/b`, child, 'fake-gcs-server');
    }
    if (bq) {
      const [port, grpcPort] = [await freePort(), await freePort()];
      const child = launch('bigquery-emulator', EMULATORS.bq.bin, [
        `--project=${bqProjectId}`,
        '--host=127.0.0.1',
        `--port=${port}`,
        `--grpc-port=${grpcPort}`,
        '--log-level=warn',
      ]);
      children.push(child);
      out.bqEndpoint = `http://127.0.0.1:${port}`;
      await waitHealthy(`${out.bqEndpoint}/bigquery/v2/projects/${bqProjectId}/datasets`, child, 'bigquery-emulator');
    }
    return out;
  } catch (err) {
    await stop();
    throw err;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const emu = await startEmulators();
  console.log(`fake-gcs-server   ${emu.gcsEndpoint}`);
  console.log(`bigquery-emulator ${emu.bqEndpoint} (project ${emu.bqProjectId})`);
  console.log('\n# for a shell running vitest directly:');
  console.log(`export RL_GCS_ENDPOINT=${emu.gcsEndpoint}`);
  console.log(`export RL_BQ_ENDPOINT=${emu.bqEndpoint}`);
  console.log(`export RL_BQ_PROJECT=${emu.bqProjectId}`);
  console.log(`export GOOGLE_CLOUD_PROJECT=${emu.bqProjectId}`);
  console.log('export METADATA_SERVER_DETECTION=none');
  console.log('\nlogs in .cache/logs/; Ctrl-C stops both.');
  const shutdown = async () => {
    await emu.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  setInterval(() => {}, 1 << 30);
}
