import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { readLabelFile } from '../../worker/sources/label-files.js';

describe('label files for import-labels', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rl-labelfiles-'));
  const table = tableFromArrays({ id: ['a', 'b'], label: ['billing', 'other'], text: ['A', 'B'] });
  const want = [
    { object: '', line: 1, value: { id: 'a', label: 'billing', text: 'A' }, rowWord: 'row' },
    { object: '', line: 2, value: { id: 'b', label: 'other', text: 'B' }, rowWord: 'row' },
  ];
  it('reads Arrow IPC and Parquet rows with their row numbers', async () => {
    const arrow = path.join(dir, 'l.arrow');
    writeFileSync(arrow, tableToIPC(table, 'file'));
    const pq = await import('parquet-wasm');
    const parquet = path.join(dir, 'l.parquet');
    writeFileSync(parquet, pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(table, 'stream'))));
    for (const file of [arrow, parquet]) {
      const r = await readLabelFile(file);
      expect(r.rows).toEqual(want.map((w) => ({ ...w, object: file })));
      expect(r.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });
  it('reads JSONL and gzipped JSONL by line; a line that is not JSON is a reject with its line', async () => {
    const text = '{"id":"a","label":"billing","text":"A"}\n\nnot json\n';
    const plain = path.join(dir, 'l.jsonl');
    const gz = path.join(dir, 'l.jsonl.gz');
    writeFileSync(plain, text);
    writeFileSync(gz, gzipSync(text));
    for (const file of [plain, gz]) {
      const r = await readLabelFile(file);
      expect(r.rows).toEqual([{ object: file, line: 1, value: { id: 'a', label: 'billing', text: 'A' }, rowWord: 'L' }]);
      expect(r.rejects).toMatchObject([{ object: file, line: 3, field: '(line)' }]);
    }
  });
});
