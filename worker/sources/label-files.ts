/**
 * Files of existing labels for `reviewloop import-labels`: JSONL (optionally
 * gzipped), Arrow IPC (file or stream) or Parquet, one row per item with
 * `id`, `label` and content fields. Rows come back as plain values with their
 * line (JSONL) or row number, for domain/label-issues/import.ts to check; a
 * JSONL line that is not JSON is a reject here.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ImportReject, RawImportRow } from '../../domain/label-issues/import.js';

export interface LabelFile {
  name: string;
  sha256: string;
  rows: RawImportRow[];
  /** Lines that could not be parsed at all. */
  rejects: ImportReject[];
}

/** Plain JSON values from an Arrow row: 64-bit integers as numbers when exact, else as strings. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

async function arrowRows(name: string, bytes: Uint8Array, parquet: boolean): Promise<RawImportRow[]> {
  const { tableFromIPC } = await import('apache-arrow');
  let ipc = bytes;
  if (parquet) {
    const pq = await import('parquet-wasm');
    ipc = pq.readParquet(bytes).intoIPCStream();
  }
  const table = tableFromIPC(ipc);
  const rows: RawImportRow[] = [];
  for (let i = 0; i < table.numRows; i++) rows.push({ object: name, line: i + 1, value: plain(table.get(i)?.toJSON()), rowWord: 'row' });
  return rows;
}

/** Bytes of one label file (compressed .gz files expand about tenfold, so the limit is on the stored size). */
export const MAX_LABEL_FILE_BYTES = 256 * 1024 * 1024;

/** Reads one file named on the command line; the name recorded is the path as given. */
export async function readLabelFile(path: string): Promise<LabelFile> {
  // Label files are read whole: past this, a user error (split the file), not a string the runtime cannot make.
  const bytes = (await stat(path)).size;
  if (bytes > MAX_LABEL_FILE_BYTES) {
    throw Object.assign(new Error(`${path}: ${bytes} bytes, above the ${MAX_LABEL_FILE_BYTES} bytes one label file may hold; split it into several files`), {
      code: 'USAGE',
    });
  }
  const raw = await readFile(path);
  const sha256 = createHash('sha256').update(raw).digest('hex');
  const lower = basename(path).toLowerCase();
  if (/\.(parquet|arrow|feather|ipc)$/.test(lower)) {
    return { name: path, sha256, rows: await arrowRows(path, raw, lower.endsWith('.parquet')), rejects: [] };
  }
  let plain = raw;
  if (lower.endsWith('.gz')) {
    try {
      plain = gunzipSync(raw, { maxOutputLength: MAX_LABEL_FILE_BYTES });
    } catch (err) {
      // Truncated, not gzip, or expanding past the limit: the user's file to fix, said as such.
      throw Object.assign(new Error(`${path}: cannot be read as gzip within ${MAX_LABEL_FILE_BYTES} bytes: ${(err as Error).message}`), { code: 'USAGE' });
    }
  }
  const text = plain.toString('utf8');
  const rows: RawImportRow[] = [];
  const rejects: ImportReject[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      rows.push({ object: path, line: i + 1, value: JSON.parse(line), rowWord: 'L' });
    } catch (err) {
      rejects.push({ object: path, line: i + 1, field: '(line)', reason: `not JSON: ${(err as Error).message}` });
    }
  });
  return { name: path, sha256, rows, rejects };
}
