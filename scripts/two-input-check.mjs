// `node scripts/two-input-check.mjs [--runs 200]` (after `npm run build`)
//
// The case that once lost top items about one run in 20: a plain JSONL file of 10 000 records
// and a .jsonl.gz of 10 000 more, entropy, two threads. Runs `reviewloop score --top 100` and
// fresh `reviewloop round` (topK 150, audit 0, sink none, local root) --runs times each, and
// compares every output with a plain reference computed here: JSON.parse, the general
// normaliser and scorer, a full sort, each id by its best copy. Prints how many runs matched.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'reviewloop.js');
const at = process.argv.indexOf('--runs');
const RUNS = at === -1 ? 200 : Number(process.argv[at + 1]);
const LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'];
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const { rng } = await dist('worker/demo/data.js');
const { normalizeRecord } = await dist('scoring/normalize.js');
const { scoreRecord } = await dist('scoring/strategies.js');

function records(prefix, n, seed) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const alpha = 0.3 + r() * 3;
    const e = LABELS.map(() => Math.pow(-Math.log(1 - r()), alpha));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(
      JSON.stringify({
        id: `${prefix}-${i}`,
        text: 'hello world',
        probs: Object.fromEntries(LABELS.map((l, j) => [l, Number((e[j] / s).toFixed(6))])),
        model: 'v1',
      }),
    );
  }
  return `${out.join('\n')}\n`;
}

/** The plain reference: ids of the k best, in rank order. */
function reference(texts, k) {
  const all = [];
  for (const [object, text] of texts) {
    text.split('\n').forEach((line, i) => {
      if (!line) return;
      const n = normalizeRecord(JSON.parse(line), { task: 'textcat', labels: LABELS, labelSet: new Set(LABELS), probTolerance: 1e-3, format: 'auto' });
      const s = n.ok ? scoreRecord(n.record, LABELS, { name: 'entropy', seed: 'x' }) : { ok: false };
      if (s.ok) all.push({ id: n.record.id, score: s.score, object, line: i });
    });
  }
  all.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || (a.object < b.object ? -1 : a.object > b.object ? 1 : a.line - b.line));
  const seen = new Set();
  return all
    .filter((e) => !seen.has(e.id) && seen.add(e.id))
    .slice(0, k)
    .map((e) => e.id);
}

const dir = mkdtempSync(join(tmpdir(), 'rl-two-input-'));
try {
  const a = records('a', 10_000, 1);
  const b = records('b', 10_000, 2);
  writeFileSync(join(dir, 'a.jsonl'), a);
  writeFileSync(join(dir, 'b.jsonl.gz'), gzipSync(b));
  const texts = [
    ['a.jsonl', a],
    ['b.jsonl.gz', b],
  ];
  const want100 = reference(texts, 100).join('\n');
  const want150 = reference(texts, 150).join('\n');

  let scoreOk = 0;
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'score',
        join(dir, 'a.jsonl'),
        join(dir, 'b.jsonl.gz'),
        '--task',
        'textcat',
        '--strategy',
        'entropy',
        '--top',
        '100',
        '--labels',
        LABELS.join(','),
        '--threads',
        '2',
        '--no-progress',
      ],
      { encoding: 'utf8' },
    );
    const got = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).id)
      .join('\n');
    if (r.status === 0 && got === want100) scoreOk++;
  }
  console.log(`score: ${scoreOk} of ${RUNS} runs select the plain reference`);

  let roundOk = 0;
  for (let i = 0; i < RUNS; i++) {
    const run = join(dir, `round-${i}`);
    const preds = join(run, 'data', 'tickets', 'predictions');
    mkdirSync(preds, { recursive: true });
    cpSync(join(dir, 'a.jsonl'), join(preds, 'a.jsonl'));
    cpSync(join(dir, 'b.jsonl.gz'), join(preds, 'b.jsonl.gz'));
    writeFileSync(
      join(run, 'rl.yaml'),
      `storage: { root: ./data }\nstats: { sink: none }\nworker: { threads: 2 }\nprojects:\n  - name: tickets\n    task: textcat\n    labels: [${LABELS.join(', ')}]\n    strategy: { name: entropy, topK: 150, auditFraction: 0, seed: 7 }\n`,
    );
    const r = spawnSync(process.execPath, [CLI, 'round', '-c', join(run, 'rl.yaml'), '--project', 'tickets', '--round', '20261127T0200Z'], {
      encoding: 'utf8',
    });
    const queue = r.status === 0 ? readFileSync(join(run, 'data', 'tickets', 'rounds', '20261127T0200Z', 'queue.jsonl'), 'utf8') : '';
    const got = queue
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).meta.id)
      .join('\n');
    if (got === want150) roundOk++;
    rmSync(run, { recursive: true, force: true });
  }
  console.log(`round: ${roundOk} of ${RUNS} fresh rounds queue the plain reference`);
  process.exitCode = scoreOk === RUNS && roundOk === RUNS ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
