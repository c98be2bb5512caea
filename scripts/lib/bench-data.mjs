// The bench's seeded input: six-class predictions as native JSONL, and the same
// rows as Arrow IPC and Parquet. The golden check (scripts/golden.mjs) scores the
// same generator's output, so the bench and the golden ids come from one source.
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST_DEMO_DATA } from './dist-paths.mjs';

export const LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'];

// The demo's seeded generator (mulberry32), so bench data and demo data come from one implementation.
const { rng } = await import(pathToFileURL(DIST_DEMO_DATA).href);

const WORDS = [
  'my',
  'order',
  'never',
  'arrived',
  'refund',
  'please',
  'card',
  'charged',
  'twice',
  'login',
  'fails',
  'app',
  'crashes',
  'when',
  'I',
  'open',
  'it',
  'where',
  'is',
  'parcel',
  'change',
  'address',
  'password',
  'reset',
  'broken',
  'item',
];

export async function generate(file, n, seed) {
  const rand = rng(seed);
  const out = createWriteStream(file);
  let buf = [];
  for (let i = 0; i < n; i++) {
    // Peaky or flat at random, so the entropy ranking has a real tail to find.
    const alpha = 0.3 + rand() * 3;
    const e = LABELS.map(() => Math.pow(-Math.log(1 - rand()), alpha));
    const s = e.reduce((a, b) => a + b, 0);
    const probs = LABELS.map((l, j) => `"${l}":${(e[j] / s).toFixed(6)}`).join(',');
    const words = [];
    const nw = 5 + Math.floor(rand() * 6);
    for (let w = 0; w < nw; w++) words.push(WORDS[Math.floor(rand() * WORDS.length)]);
    buf.push(`{"id":"item-${String(i).padStart(9, '0')}","text":"${words.join(' ')}","probs":{${probs}},"model":"v12"}`);
    if (buf.length === 10000) {
      if (!out.write(`${buf.join('\n')}\n`)) await new Promise((r) => out.once('drain', r));
      buf = [];
    }
  }
  if (buf.length > 0) out.write(`${buf.join('\n')}\n`);
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
}

/** Streams the JSONL into Arrow IPC (file format) and Parquet, batch by batch, with a List<Float64> `probs` column. */
export async function convert(jsonl, arrowFile, parquetFile) {
  const arrow = await import('apache-arrow');
  const pq = await import('parquet-wasm');
  const { createReadStream } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  const probsType = new arrow.List(new arrow.Field('item', new arrow.Float64(), false));
  const schema = new arrow.Schema([
    new arrow.Field('id', new arrow.Utf8(), false),
    new arrow.Field('text', new arrow.Utf8(), true),
    new arrow.Field('probs', probsType, false),
    new arrow.Field('model', new arrow.Utf8(), true),
  ]);
  const writer = arrow.RecordBatchFileWriter.throughNode();
  const arrowOut = createWriteStream(arrowFile);
  writer.pipe(arrowOut);
  const batches = [];
  let rows = [];
  const flush = () => {
    if (rows.length === 0) return;
    const builders = {
      id: arrow.makeBuilder({ type: new arrow.Utf8() }),
      text: arrow.makeBuilder({ type: new arrow.Utf8() }),
      probs: arrow.makeBuilder({ type: probsType }),
      model: arrow.makeBuilder({ type: new arrow.Utf8() }),
    };
    for (const r of rows) {
      builders.id.append(r.id);
      builders.text.append(r.text);
      builders.probs.append(LABELS.map((l) => r.probs[l]));
      builders.model.append(r.model);
    }
    const data = arrow.makeData({
      type: new arrow.Struct(schema.fields),
      length: rows.length,
      nullCount: 0,
      children: ['id', 'text', 'probs', 'model'].map((k) => builders[k].finish().flush()),
    });
    const batch = new arrow.RecordBatch(schema, data);
    writer.write(batch);
    batches.push(batch);
    rows = [];
  };
  const rl = createInterface({ input: createReadStream(jsonl), crlfDelay: Infinity });
  let parquetChunks = 0;
  for await (const line of rl) {
    if (line.length === 0) continue;
    rows.push(JSON.parse(line));
    if (rows.length === 65536) {
      flush();
      // One Parquet file per run; parquet-wasm writes a whole table, so group batches into row groups of ~1M rows.
      if (batches.length * 65536 >= 1 << 20) parquetChunks += await writeParquetPart(arrow, pq, batches.splice(0), parquetFile, parquetChunks);
    }
  }
  flush();
  if (batches.length > 0) parquetChunks += await writeParquetPart(arrow, pq, batches.splice(0), parquetFile, parquetChunks);
  writer.end();
  await new Promise((r) => arrowOut.on('close', r));
}

async function writeParquetPart(arrow, pq, batches, parquetFile, index) {
  const table = new arrow.Table(batches);
  const ipc = arrow.tableToIPC(table, 'stream');
  const wasmTable = pq.Table.fromIPCStream(ipc);
  // Row groups of 64Ki rows, so a reader streams them instead of holding a whole file's group.
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).setMaxRowGroupSize(65536).build();
  const bytes = pq.writeParquet(wasmTable, props);
  const { writeFileSync, mkdirSync: mk } = await import('node:fs');
  mk(parquetFile, { recursive: true });
  writeFileSync(join(parquetFile, `part-${String(index).padStart(5, '0')}.parquet`), bytes);
  return 1;
}
