// Builds native/line-scan.c into dist/native/line-scan.node (run by `npm run build`).
// Optional: without a C compiler or Node's headers it says so and exits 0, and
// scoring uses the JS scanner (same results, ~3x slower on JSONL).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(ROOT, 'native', 'line-scan.c');
const out = join(ROOT, 'dist', 'native', 'line-scan.node');
const cc = process.env.CC ?? 'cc';
// Node's headers: beside the binary (official tarballs, Docker images) or the distro's.
const include = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].find((d) => existsSync(join(d, 'node_api.h')));

if (include === undefined) {
  console.warn('[build-native] node_api.h not found: skipping the native line scanner (the JS one is used)');
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
// -ffp-contract=off: no fused multiply-add, so number parsing rounds exactly as the JS parser does.
const r = spawnSync(cc, ['-O3', '-ffp-contract=off', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', `-I${include}`, '-o', out, src], { stdio: 'inherit' });
if (r.error !== undefined || r.status !== 0) {
  console.warn(`[build-native] ${cc} failed (${r.error?.message ?? `exit ${r.status}`}): the JS line scanner is used`);
  process.exit(0);
}
