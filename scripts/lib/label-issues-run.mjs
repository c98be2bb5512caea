// `node scripts/lib/label-issues-run.mjs PREDICTIONS.jsonl LABELS.jsonl [--top K] [--threads N] [--rank-by R]`
// The three label-issue passes over one local JSONL file in the worker pool, as a
// round runs them: labels into the shared table, then sums, joint, selection.
// Prints the top-K flagged ids (one {"id"} per line, ranked) on stdout and the
// figures on stderr. Used by `npm run bench`; needs `npm run build`.
import { createReadStream, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ROOT } from './dist-paths.mjs';
import { LABELS } from './bench-data.mjs';

const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const { LabelTableBuilder } = await dist('scoring/label-issues/chunk.js');
const { ScoringPool } = await dist('worker/pool/pool.js');
const { findLabelIssuesInPool } = await dist('worker/pool/label-run.js');

const [predFile, labelsFile] = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
};
const top = Number(arg('top', '1000'));
const threads = arg('threads', undefined);

const builder = new LabelTableBuilder();
const index = new Map(LABELS.map((l, i) => [l, i]));
for await (const line of createInterface({ input: createReadStream(labelsFile), crlfDelay: Infinity })) {
  if (line === '') continue;
  const { id, label } = JSON.parse(line);
  builder.add(id, index.get(label));
}
const { table } = builder.finish();
const pool = new ScoringPool(threads ? { threads: Number(threads) } : {});
try {
  const t0 = performance.now();
  const source = { uri: pathToFileURL(predFile).href, name: basename(predFile), size: statSync(predFile).size, open: () => createReadStream(predFile) };
  const r = await findLabelIssuesInPool([source], { labels: LABELS, table, probTolerance: 1e-3, format: 'auto', snapshotVersion: 1 }, pool, {
    chunkBytes: 16 * 1024 * 1024,
    maxLineBytes: 16 * 1024 * 1024,
    rankBy: arg('rank-by', 'self-confidence'),
  });
  const out = r.issues.slice(0, top).map((x) => JSON.stringify({ id: x.payload.id }));
  process.stdout.write(out.length > 0 ? `${out.join('\n')}\n` : '');
  const noise = r.noise.overall === null ? 'n/a' : `${(100 * r.noise.overall).toFixed(2)}%`;
  process.stderr.write(
    `[label-issues] ${r.used} of ${r.read} items used, ${r.issues.length} flagged, estimated noise ${noise}, ${((performance.now() - t0) / 1000).toFixed(2)} s for 3 passes\n`,
  );
} finally {
  await pool.close();
}
