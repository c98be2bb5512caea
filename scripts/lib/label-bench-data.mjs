// The label-issue bench's seeded input: six-class items with a true class, an
// out-of-sample probability vector (right about 85 % of the time) and a given
// label flipped away from the true class for 10 % of the items. Predictions go
// to FILE.jsonl (native records with "out_of_sample": true), labels to
// FILE.labels.jsonl ({"id", "label"}), as `import-labels` would read them.
import { createWriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { DIST_DEMO_DATA } from './dist-paths.mjs';
import { LABELS } from './bench-data.mjs';

const { rng } = await import(pathToFileURL(DIST_DEMO_DATA).href);

async function writeAll(out, lines) {
  if (!out.write(`${lines.join('\n')}\n`)) await new Promise((r) => out.once('drain', r));
}

export async function generateLabelled(predFile, labelsFile, n, seed, flipRate = 0.1) {
  const rand = rng(seed);
  const preds = createWriteStream(predFile);
  const labels = createWriteStream(labelsFile);
  const k = LABELS.length;
  let pb = [];
  let lb = [];
  for (let i = 0; i < n; i++) {
    const truth = Math.floor(rand() * k);
    // A sharper or flatter vector around the class the model believes: the true one most of the time.
    const believed = rand() < 0.85 ? truth : Math.floor(rand() * k);
    const e = LABELS.map((_, j) => -Math.log(1 - rand()) * (j === believed ? 4 + rand() * 40 : 1));
    const s = e.reduce((a, b) => a + b, 0);
    const probs = LABELS.map((l, j) => `"${l}":${(e[j] / s).toFixed(6)}`).join(',');
    const given = rand() < flipRate ? (truth + 1 + Math.floor(rand() * (k - 1))) % k : truth;
    const id = `item-${String(i).padStart(9, '0')}`;
    pb.push(`{"id":"${id}","text":"ticket ${i}","probs":{${probs}},"model":"cv-5fold","out_of_sample":true}`);
    lb.push(`{"id":"${id}","label":"${LABELS[given]}"}`);
    if (pb.length === 10000) {
      await writeAll(preds, pb);
      await writeAll(labels, lb);
      pb = [];
      lb = [];
    }
  }
  if (pb.length > 0) {
    await writeAll(preds, pb);
    await writeAll(labels, lb);
  }
  await Promise.all([preds, labels].map((o) => new Promise((r, j) => o.end((e) => (e ? j(e) : r())))));
}
