// Builds native/*.c (the JSONL line scanner and the row settler) into
// dist/native/scan-settle.node (run by `npm run build`). Optional: without a C
// compiler or Node's headers it says so and exits 0, and scoring runs in JS
// (same results, slower).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = ['addon.c', 'line-scan.c', 'settle.c', 'settle-avx2.c'].map((f) => join(ROOT, 'native', f));
const out = join(ROOT, 'dist', 'native', 'scan-settle.node');
const cc = process.env.CC ?? 'cc';
// Node's headers: beside the binary (official tarballs, Docker images) or the distro's.
const include = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].find((d) =>
  existsSync(join(d, 'node_api.h')),
);

if (include === undefined) {
  console.warn('[build-native] node_api.h not found: skipping the native line scanner (the JS one is used)');
  process.exit(0);
}
mkdirSync(dirname(out), { recursive: true });
// -ffp-contract=off: no fused multiply-add, so number parsing rounds exactly as the JS parser does.
const base = ['-O3', '-ffp-contract=off', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', `-I${include}`, '-o', out, ...src, '-lm'];
// glibc's libmvec gives settle.c a 4-wide log; without it (musl, other CPUs) the scalar log is used.
const attempts = process.arch === 'x64' ? [['-DHAVE_MVEC', ...base, '-lmvec'], base] : [base];
for (const [i, args] of attempts.entries()) {
  const last = i === attempts.length - 1;
  const r = spawnSync(cc, args, { stdio: last ? 'inherit' : 'ignore' });
  if (r.error === undefined && r.status === 0) process.exit(0);
  if (last) console.warn(`[build-native] ${cc} failed (${r.error?.message ?? `exit ${r.status}`}): scoring runs in JS`);
}
