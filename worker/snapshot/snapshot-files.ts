/**
 * Serialises snapshot rows: Arrow IPC file format (readable as-is by pyarrow,
 * pandas.read_feather, polars.read_ipc and DuckDB), JSONL that `prodigy db-in`
 * imports, optional Parquet. Same rows → same bytes.
 */
import { Bool, Field, Float64, Int32, List, Table, Utf8, tableToIPC, vectorFromArray, type DataType, type Vector } from 'apache-arrow';
import type { SnapshotRow } from '../../domain/records.js';

type Col = { name: string; type: DataType; get: (r: SnapshotRow) => unknown };

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));
const strList = () => new List(new Field('item', new Utf8(), true));

/** Column order and types of data.arrow; documented in the README (snapshot schema). */
export const ARROW_COLUMNS: Col[] = [
  { name: 'id', type: new Utf8(), get: (r) => r.id },
  { name: 'task', type: new Utf8(), get: (r) => r.task },
  { name: 'text', type: new Utf8(), get: (r) => r.text },
  { name: 'image', type: new Utf8(), get: (r) => r.image },
  { name: 'audio', type: new Utf8(), get: (r) => r.audio },
  { name: 'width', type: new Float64(), get: (r) => r.width },
  { name: 'height', type: new Float64(), get: (r) => r.height },
  { name: 'label', type: new Utf8(), get: (r) => r.label },
  { name: 'labels', type: strList(), get: (r) => r.labels },
  { name: 'negatives', type: strList(), get: (r) => r.negatives },
  { name: 'spans_json', type: new Utf8(), get: (r) => json(r.spans) },
  { name: 'boxes_json', type: new Utf8(), get: (r) => json(r.boxes) },
  { name: 'audio_spans_json', type: new Utf8(), get: (r) => json(r.audio_spans) },
  { name: 'tokens_json', type: new Utf8(), get: (r) => json(r.tokens) },
  { name: 'status', type: new Utf8(), get: (r) => r.status },
  { name: 'provenance', type: new Utf8(), get: (r) => r.provenance },
  { name: 'round', type: new Utf8(), get: (r) => r.round },
  { name: 'model', type: new Utf8(), get: (r) => r.model },
  { name: 'score', type: new Float64(), get: (r) => r.score },
  { name: 'audit', type: new Bool(), get: (r) => r.audit },
  { name: 'inclusion_p', type: new Float64(), get: (r) => r.inclusion_p },
  { name: 'prediction_source', type: new Utf8(), get: (r) => r.prediction_source },
  { name: 'prediction_json', type: new Utf8(), get: (r) => json(r.prediction) },
  { name: 'annotators', type: strList(), get: (r) => r.annotators },
  { name: 'answered_at', type: new Float64(), get: (r) => r.answered_at },
  { name: 'answers_count', type: new Int32(), get: (r) => r.answers.length },
  { name: 'answers_json', type: new Utf8(), get: (r) => JSON.stringify(r.answers) },
  { name: 'input_hash', type: new Int32(), get: (r) => r.input_hash },
  { name: 'task_hash', type: new Int32(), get: (r) => r.task_hash },
  { name: 'version', type: new Int32(), get: (r) => r.version },
  // Label-issue lineage (domain/label-issues/lineage.ts); rows never questioned hold nulls and false.
  { name: 'previous_label', type: new Utf8(), get: (r) => r.previous_label ?? null },
  { name: 'corrected_version', type: new Int32(), get: (r) => r.corrected_version ?? null },
  { name: 'corrected_round', type: new Utf8(), get: (r) => r.corrected_round ?? null },
  { name: 'verified', type: new Bool(), get: (r) => r.verified ?? false },
  { name: 'verified_round', type: new Utf8(), get: (r) => r.verified_round ?? null },
];

/** Last column of image-segmentation snapshots only, so other tasks' files keep their bytes. */
export const MASK_PATH_COLUMN: Col = { name: 'mask_path', type: new Utf8(), get: (r) => r.mask_path ?? null };

export function toArrowTable(rows: SnapshotRow[]): Table {
  const vectors: Record<string, Vector> = {};
  const columns = rows.some((r) => r.mask_path !== undefined) ? [...ARROW_COLUMNS, MASK_PATH_COLUMN] : ARROW_COLUMNS;
  for (const c of columns) vectors[c.name] = vectorFromArray(rows.map(c.get) as never[], c.type);
  return new Table(vectors);
}

export function arrowBytes(rows: SnapshotRow[]): Buffer {
  return Buffer.from(tableToIPC(toArrowTable(rows), 'file'));
}

/**
 * Prodigy's view of a row (what `prodigy db-in` imports): the resolved
 * annotation as a task with an answer, plus every row field under `reviewloop`.
 * A conflict carries no agreed label, so it is imported as `ignore`; a row
 * whose only answer rejected one label is that binary task (`label` + `reject`).
 */
export function prodigyLine(r: SnapshotRow): Record<string, unknown> {
  const binaryNegative = r.status === 'negative-only' && r.negatives.length === 1;
  const answer =
    r.status === 'labelled' || (r.status === 'negative-only' && !binaryNegative) ? 'accept' : r.status === 'rejected' || binaryNegative ? 'reject' : 'ignore';
  const out: Record<string, unknown> = {};
  if (r.text !== null) out.text = r.text;
  if (r.image !== null) out.image = r.image;
  if (r.audio !== null) out.audio = r.audio;
  if (r.width !== null) out.width = r.width;
  if (r.height !== null) out.height = r.height;
  if (r.tokens !== null) out.tokens = r.tokens;
  if (r.options !== undefined) out.options = r.options;
  if (r.spans !== null) out.spans = r.spans;
  // Exports keep a span's points, not Prodigy's `type`: segmentation rows say "polygon" again so db-in draws them as such.
  else if (r.boxes !== null) out.spans = r.task === 'image-segmentation' ? r.boxes.map((b) => (b.points ? { ...b, type: 'polygon' } : b)) : r.boxes;
  if (r.audio_spans !== null) out.audio_spans = r.audio_spans;
  if (r.mask_path !== undefined) out.mask_path = r.mask_path;
  if (binaryNegative) out.label = r.negatives[0];
  else if (r.labels.length > 0 || r.task.startsWith('textcat') || r.task === 'image') out.accept = r.labels;
  out.answer = answer;
  out._input_hash = r.input_hash;
  out._task_hash = r.task_hash;
  out.meta = { id: r.id, round: r.round, status: r.status, version: r.version };
  out.reviewloop = r;
  return out;
}

export function jsonlBytes(rows: SnapshotRow[]): Buffer {
  let s = '';
  for (const r of rows) s += `${JSON.stringify(prodigyLine(r))}\n`;
  return Buffer.from(s);
}

export async function parquetBytes(rows: SnapshotRow[]): Promise<Buffer> {
  const { Table: WasmTable, writeParquet, WriterPropertiesBuilder, Compression } = await import('parquet-wasm');
  const ipc = tableToIPC(toArrowTable(rows), 'stream');
  const props = new WriterPropertiesBuilder().setCompression(Compression.ZSTD).build();
  return Buffer.from(writeParquet(WasmTable.fromIPCStream(ipc), props));
}

/** Rows back from data.jsonl (the lossless copy: Arrow stores nested fields as JSON text). */
export function rowsFromJsonl(text: string): SnapshotRow[] {
  const rows: SnapshotRow[] = [];
  for (const line of text.split('\n')) if (line) rows.push((JSON.parse(line) as { reviewloop: SnapshotRow }).reviewloop);
  return rows;
}
