import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Bool,
  Dictionary,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int32,
  Int64,
  LargeUtf8,
  List,
  RecordBatchReader,
  Struct,
  Table,
  TimestampMillisecond,
  Uint8,
  Utf8,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
  type DataType,
} from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChunkStats, Reject, ScoredEntry } from '../../scoring/types.js';
import { BottomK, TopK } from '../../scoring/topk.js';
import type { ColumnBatch } from '../../worker/sources/arrow-column.js';
import { ArrowFileReader, fillBatch, type BatchColumns } from '../../worker/sources/arrow-file.js';
import { arrowFileBatchCount } from '../../worker/sources/arrow-footer.js';
import { scoreColumnarSource } from '../../worker/sources/columnar-source.js';
import { ArrowType, decodeFooter } from '../../worker/sources/arrow-ipc.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-arrow-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Column types the reader builds, and around them column types it only steps over. */
const READ: Record<string, DataType> = {
  id: new Utf8(),
  n: new Int64(),
  i32: new Int32(),
  u8: new Uint8(),
  f32: new Float32(),
  f64: new Float64(),
  probs: new List(new Field('item', new Float64(), true)),
  fixed: new FixedSizeList(3, new Field('item', new Float32(), false)),
  text: new Utf8(),
};
const SKIPPED: Record<string, DataType> = {
  meta: new Struct([new Field('a', new Int32(), true), new Field('b', new Utf8(), true)]),
  flag: new Bool(),
  at: new TimestampMillisecond(),
  big: new LargeUtf8(),
};

/** `rows` rows in batches of `per`, with nulls, empty strings, non-ASCII text and ragged lists. */
function table(rows: number, per: number, seed: number, types: Record<string, DataType> = { ...READ, ...SKIPPED }): Table {
  const r = rng(seed);
  const batches = [];
  for (let at = 0; at < rows; at += per) {
    const n = Math.min(per, rows - at);
    const col = (f: (i: number) => unknown) => Array.from({ length: n }, (_, j) => f(at + j));
    const values: Record<string, unknown[]> = {
      id: col((i) => (i % 11 === 3 ? null : `item-${i}`)),
      n: col((i) => BigInt(i) * 1_000_000_007n),
      i32: col((i) => (i % 7 === 0 ? null : i - 50)),
      u8: col((i) => i % 256),
      f32: col(() => Math.fround(r())),
      f64: col((i) => (i % 5 === 0 ? null : r())),
      probs: col((i) => (i % 13 === 0 ? null : Array.from({ length: i % 4 }, () => r()))),
      fixed: col(() => [r(), r(), r()].map(Math.fround)),
      text: col((i) => (i % 9 === 0 ? null : i % 4 === 0 ? '' : `tëxt ✓ ${i}`)),
      meta: col((i) => ({ a: i, b: `m${i}` })),
      flag: col((i) => i % 2 === 0),
      at: col((i) => 1_700_000_000_000 + i),
      big: col((i) => `large ${i}`),
      half: col(() => 0.5),
    };
    const vectors = Object.fromEntries(Object.entries(types).map(([name, type]) => [name, vectorFromArray(values[name], type)]));
    batches.push(...new Table(vectors).batches);
  }
  return new Table(batches);
}

/** Row values of one column, read the same way from our batches and apache-arrow's. */
function rowsOf(batch: ColumnBatch, name: string): unknown[] {
  const c = batch.getChild(name)!;
  const d = c.data[0];
  const out: unknown[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    if (!c.isValid(i)) out.push(null);
    else if (c.type.typeId === ArrowType.List)
      out.push(
        Array.from(
          d.children[0].values.subarray(
            d.children[0].offset + d.valueOffsets[d.offset + i],
            d.children[0].offset + d.valueOffsets[d.offset + i + 1],
          ) as Float64Array,
        ),
      );
    else if (c.type.typeId === ArrowType.FixedSizeList) {
      const w = c.type.listSize!;
      out.push(
        Array.from(d.children[0].values.subarray(d.children[0].offset + (d.offset + i) * w, d.children[0].offset + (d.offset + i + 1) * w) as Float32Array),
      );
    } else out.push(c.get(i));
  }
  return out;
}

function write(name: string, t: Table, format: 'file' | 'stream' = 'file'): { path: string; bytes: Uint8Array } {
  const path = join(dir, name);
  const bytes = tableToIPC(t, format);
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('synchronous Arrow file reader', () => {
  it('reads every batch as apache-arrow does, stepping over columns it does not read, and reuses one body buffer', () => {
    const { path, bytes } = write('r.arrow', table(2500, 700, 9));
    const ref = tableFromIPC(bytes);
    const columns: BatchColumns = { eager: Object.keys(READ), lazy: [] };
    const reader = ArrowFileReader.open(path, undefined, path, columns)!;
    expect(reader).not.toBeNull();
    try {
      expect(reader.numBatches).toBe(4);
      for (let b = 0; b < 4; b++) {
        const batch = reader.readBatch(b)!;
        expect(batch.numRows).toBe(ref.batches[b].numRows);
        // Compared now: the next read reuses the buffer this batch views.
        for (const name of Object.keys(READ))
          expect(rowsOf(batch, name), `batch ${b}, ${name}`).toEqual(rowsOf(ref.batches[b] as unknown as ColumnBatch, name));
        expect(batch.getChild('meta')).toBeNull();
        expect(String(batch.getChild('probs')!.type)).toBe(String(ref.batches[b].getChild('probs')!.type));
        expect(String(batch.getChild('fixed')!.type)).toBe(String(ref.batches[b].getChild('fixed')!.type));
      }
      expect(() => reader.readBatch(4)).toThrow(/record batch 4 is missing/);
    } finally {
      reader.close();
      reader.close();
    }
  });

  it("reads only the named columns, and a row's strings or the whole batch on demand", () => {
    const { path, bytes } = write('p.arrow', table(1500, 600, 4, READ));
    const ref = tableFromIPC(bytes);
    // A batch read whole first leaves its bytes in the shared buffer: the partial read must not show them.
    const whole = ArrowFileReader.open(path)!;
    whole.readBatch(1);
    whole.close();
    const reader = ArrowFileReader.open(path, undefined, path, { eager: ['probs'], lazy: ['id', 'text'] })!;
    try {
      const batch = reader.readBatch(0)!;
      const want = ref.batches[0] as unknown as ColumnBatch;
      expect(rowsOf(batch, 'probs')).toEqual(rowsOf(want, 'probs'));
      expect(batch.getChild('n')).toBeNull();
      // Offsets are read, bytes are not: ids come out wrong until their row is filled.
      expect(Array.from(batch.getChild('id')!.data[0].valueOffsets)).toEqual(
        Array.from(want.getChild('id')!.data[0].valueOffsets.subarray(0, batch.numRows + 1)),
      );
      expect(batch.getChild('id')!.get(7)).not.toBe(want.getChild('id')!.get(7));
      fillBatch(batch, 7);
      expect([batch.getChild('id')!.get(7), batch.getChild('text')!.get(7)]).toEqual([want.getChild('id')!.get(7), want.getChild('text')!.get(7)]);
      expect(batch.getChild('id')!.get(8)).not.toBe(want.getChild('id')!.get(8));
      fillBatch(batch);
      expect([rowsOf(batch, 'id'), rowsOf(batch, 'text')]).toEqual([rowsOf(want, 'id'), rowsOf(want, 'text')]);
      const next = reader.readBatch(2)!;
      expect(() => fillBatch(batch, 3)).not.toThrow(); // filled whole already: nothing left to read
      reader.readBatch(1);
      expect(() => fillBatch(next, 3)).toThrow(/moved on/);
    } finally {
      reader.close();
    }
  });

  it('counts record batches from the footer alone, as apache-arrow does', () => {
    for (const [rows, per] of [
      [2500, 700],
      [10, 10],
      [1, 1],
      [3000, 64],
    ] as const) {
      const { path } = write(`n${rows}-${per}.arrow`, table(rows, per, 2, { id: new Utf8() }));
      const reader = RecordBatchReader.from(new Uint8Array(readFileSync(path)));
      reader.open();
      expect(arrowFileBatchCount(path), path).toBe(reader.numRecordBatches);
    }
    const { path: stream } = write('c.arrows', table(10, 10, 1, { id: new Utf8() }), 'stream');
    expect(arrowFileBatchCount(stream)).toBeNull();
    // A file cut short keeps its leading magic but loses the footer: a typed error naming the object.
    const { path: cut, bytes } = write('cut.arrow', table(100, 50, 1, { id: new Utf8() }));
    writeFileSync(cut, bytes.subarray(0, bytes.length - 20));
    expect(() => arrowFileBatchCount(cut, 'gs://b/cut.arrow')).toThrow(/gs:\/\/b\/cut.arrow: not a readable arrow file/);
  });

  it('declines streams, non-Arrow files, dictionaries and used columns of types it does not read, so apache-arrow reads them', () => {
    const { path: stream } = write('s.arrows', table(10, 10, 1, { id: new Utf8() }), 'stream');
    const text = join(dir, 't.arrow');
    writeFileSync(text, '{"id":"a"}\n'.repeat(10));
    const dictType = new Dictionary(new Utf8(), new Int32());
    const { path: dict } = write('d.arrow', new Table({ id: vectorFromArray(['a', 'b', 'c']), model: vectorFromArray(['x', 'y', 'x'], dictType) }));
    for (const p of [stream, text, dict]) expect(ArrowFileReader.open(p), p).toBeNull();
    const { path: odd } = write('o.arrow', table(20, 20, 1, { id: new Utf8(), flag: new Bool(), half: new Float16(), big: new LargeUtf8() }));
    expect(ArrowFileReader.open(odd, undefined, odd, { eager: ['id'], lazy: [] })).not.toBeNull();
    for (const used of ['flag', 'half', 'big']) expect(ArrowFileReader.open(odd, undefined, odd, { eager: ['id', used], lazy: [] }), used).toBeNull();
  });

  it("throws an error, never reads out of range, when a batch's metadata is corrupt", () => {
    const bytes = tableToIPC(table(300, 100, 5, READ), 'file');
    const footerLength = new DataView(bytes.buffer, bytes.byteOffset).getInt32(bytes.length - 10, true);
    const block = decodeFooter(bytes.subarray(bytes.length - 10 - footerLength, bytes.length - 10)).batches[0];
    const path = join(dir, 'x.arrow');
    const r = rng(17);
    let threw = 0;
    for (let trial = 0; trial < 300; trial++) {
      const bad = bytes.slice();
      for (let f = 0; f < 3; f++) bad[block.offset + Math.floor(r() * block.metaDataLength)] ^= 1 + Math.floor(r() * 255);
      writeFileSync(path, bad);
      const reader = ArrowFileReader.open(path, undefined, path, { eager: Object.keys(READ), lazy: [] })!;
      try {
        const batch = reader.readBatch(0);
        // What still decodes must hold up when read: every view lies inside the body.
        if (batch !== null) for (const c of Object.keys(READ)) rowsOf(batch, c);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        threw++;
      } finally {
        reader.close();
      }
    }
    expect(threw).toBeGreaterThan(30);
  });
});

/** Files pyarrow wrote (scripts/arrow-fixtures.py): what most prediction files look like. */
const FIXTURES = fileURLToPath(new URL('../fixtures/arrow/', import.meta.url));
const PA_LABELS = ['billing', 'shipping', 'returns', 'account', 'technical', 'other'];

/** Top, audit, stats and rejects of one Arrow object, as the run would keep them. */
async function scoreFile(path: string, uri: string): Promise<{ top: unknown[]; audit: unknown[]; stats: ChunkStats[]; rejects: Reject[] }> {
  const top = new TopK<ScoredEntry>(25);
  const audit = new BottomK<ScoredEntry>(5);
  const stats: ChunkStats[] = [];
  const rejects: Reject[] = [];
  await scoreColumnarSource(
    {
      uri,
      name: path,
      path,
      open: () => {
        throw new Error('should seek');
      },
    },
    'arrow',
    { task: 'textcat', labels: PA_LABELS, strategy: { name: 'entropy', seed: 's' }, probTolerance: 1e-3 },
    {
      top,
      audit,
      onStats: (x) => {
        stats.push(x);
      },
      onRejects: (r) => {
        rejects.push(...r);
      },
    },
  );
  const view = (es: ScoredEntry[]) => es.map((e) => [e.id, e.score, e.u, e.source.line, e.record]);
  return { top: view(top.values()), audit: view(audit.values()), stats, rejects };
}

describe('Arrow files pyarrow writes', () => {
  it('are read as apache-arrow reads them, whole or string bytes on demand, stepping over struct, timestamp, bool and embedding columns', () => {
    for (const [file, used] of [
      ['pyarrow-list.arrow', ['id', 'text', 'model', 'probs']],
      ['pyarrow-fixed32.arrow', ['id', 'probs']],
      ['pyarrow-columns.arrow', ['id', ...PA_LABELS]],
    ] as const) {
      const path = join(FIXTURES, file);
      const ref = tableFromIPC(readFileSync(path));
      expect(ref.batches.length, file).toBe(3);
      for (const lazy of [[], used.filter((c) => c === 'id' || c === 'text' || c === 'model')]) {
        const reader = ArrowFileReader.open(path, undefined, path, { eager: used.filter((c) => !lazy.includes(c)), lazy })!;
        expect(reader, file).not.toBeNull();
        try {
          for (let b = 0; b < reader.numBatches; b++) {
            const batch = reader.readBatch(b)!;
            fillBatch(batch);
            for (const c of used) expect(rowsOf(batch, c), `${file} batch ${b} ${c}`).toEqual(rowsOf(ref.batches[b] as unknown as ColumnBatch, c));
          }
        } finally {
          reader.close();
        }
      }
    }
  });

  it('that this reader leaves to apache-arrow (a dictionary column, a large_string id) score as the plain layouts do', async () => {
    for (const file of ['pyarrow-dictionary.arrow', 'pyarrow-large.arrow']) {
      const path = join(FIXTURES, file);
      expect(ArrowFileReader.open(path, undefined, path, { eager: ['probs', 'id', 'model'], lazy: [] }), file).toBeNull();
    }
    // The same ids and probabilities in four layouts; only the records differ (no text; a model in one).
    const scored = await Promise.all(
      ['pyarrow-columns.arrow', 'pyarrow-dictionary.arrow', 'pyarrow-large.arrow'].map((f) => scoreFile(join(FIXTURES, f), 'x')),
    );
    const bare = (r: (typeof scored)[number]) => JSON.stringify([r.top, r.audit].map((es) => es.map((e) => (e as unknown[]).slice(0, 4))));
    expect(scored[0].top.length).toBe(25);
    for (const r of scored.slice(1)) expect(bare(r)).toBe(bare(scored[0]));
    expect(scored.map((r) => r.rejects.length)).toEqual([0, 0, 0]);
  });

  it('with nulls, score and reject as the same rows read by apache-arrow from a stream', async () => {
    const path = join(FIXTURES, 'pyarrow-list.arrow');
    const stream = join(dir, 'pyarrow-list.arrows');
    writeFileSync(stream, tableToIPC(tableFromIPC(readFileSync(path)), 'stream'));
    const mine = await scoreFile(path, 'x');
    const theirs = await scoreFile(stream, 'x');
    expect(JSON.stringify(mine)).toBe(JSON.stringify(theirs));
    // Row 18 has no id, row 30 no probabilities; every 11th text is null (textcat needs text).
    expect(mine.rejects.map((r) => [r.line, r.field])).toEqual(
      expect.arrayContaining([
        [18, 'id'],
        [30, 'probs'],
        [4, 'text'],
      ]),
    );
  });
});
