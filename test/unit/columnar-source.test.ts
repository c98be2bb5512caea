import { mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type Builder,
  Field,
  Float32,
  Float64,
  Int32,
  List,
  makeBuilder,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  Utf8,
  type DataType,
} from 'apache-arrow';
import * as pq from 'parquet-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reject } from '../../scoring/types.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import { scoreSources, type ScoreParams } from '../../worker/pool/score-run.js';
import type { Source } from '../../worker/sources/sources.js';

const LABELS = ['a', 'b', 'c'];
const dir = mkdtempSync(join(tmpdir(), 'rl-columnar-'));
let pool: ScoringPool;

/** Seeded rows; every 50th is bad in a way JSONL would reject too. */
interface Row {
  id: string | null;
  text: string;
  probs: number[];
  model: string;
}
function rows(n: number): Row[] {
  let s = 7;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const out: Row[] = [];
  for (let i = 0; i < n; i++) {
    const e = LABELS.map(() => rnd() + 1e-3);
    const t = e.reduce((x, y) => x + y, 0);
    const probs = e.map((x) => x / t);
    out.push({ id: `r${String(i).padStart(4, '0')}`, text: `text ${i}`, probs, model: 'm1' });
  }
  out[50].probs = [NaN, 0.5, 0.5];
  out[100].probs = [-0.1, 0.6, 0.5];
  out[150].probs = [0.5, 0.5, 0.5];
  out[200].id = null;
  // Present but empty, and too sure to reach a heap: still rejected, as JSONL does (an empty id is no id).
  out[280].id = '';
  out[280].probs = [0.98, 0.01, 0.01];
  // Exact ties on score: broken by id, in every format.
  out[260].probs = out[10].probs.slice();
  out[261].probs = out[10].probs.slice();
  return out;
}

function jsonl(rs: Row[]): string {
  return (
    rs
      .map((r) => {
        const probs = Object.fromEntries(LABELS.map((l, j) => [l, Number.isNaN(r.probs[j]) ? 'NaN' : r.probs[j]]));
        return JSON.stringify({ ...(r.id === null ? {} : { id: r.id }), text: r.text, probs, model: r.model });
      })
      .join('\n') + '\n'
  );
}

function table(rs: Row[], layout: 'list' | 'columns', float: DataType = new Float64(), batchRows = 128): Table {
  const fields: Field[] = [new Field('id', new Utf8(), true), new Field('text', new Utf8(), true), new Field('model', new Utf8(), true)];
  const listType = new List(new Field('item', float, false));
  if (layout === 'list') fields.push(new Field('probs', listType, false));
  else for (const l of LABELS) fields.push(new Field(l, float, false));
  const schema = new Schema(fields);
  const batches: RecordBatch[] = [];
  for (let at = 0; at < rs.length; at += batchRows) {
    const part = rs.slice(at, at + batchRows);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- one map over builders of several types
    const b = new Map<string, Builder<any>>(fields.map((f) => [f.name, makeBuilder({ type: f.type, nullValues: [null] })]));
    for (const r of part) {
      b.get('id')!.append(r.id);
      b.get('text')!.append(r.text);
      b.get('model')!.append(r.model);
      if (layout === 'list') b.get('probs')!.append(r.probs);
      else LABELS.forEach((l, j) => b.get(l)!.append(r.probs[j]));
    }
    const children = fields.map((f) => b.get(f.name)!.finish().flush());
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(fields), length: part.length, nullCount: 0, children })));
  }
  return new Table(batches);
}

function fileSource(file: string): Source {
  return {
    uri: file,
    name: file,
    path: file,
    open: () => {
      throw new Error('should seek');
    },
  };
}

function bytesSource(name: string, bytes: Uint8Array): Source {
  return { uri: name, name, open: () => Readable.from([bytes]) };
}

const params = (over: Partial<ScoreParams> = {}): ScoreParams => ({
  task: 'textcat',
  labels: LABELS,
  strategy: { name: 'entropy', seed: 's' },
  topK: 20,
  auditK: 5,
  keepEmbedding: false,
  maxLineBytes: 1 << 20,
  probTolerance: 1e-3,
  chunkBytes: 64 * 1024,
  format: 'auto',
  ...over,
});

async function run(sources: Source[], p = params()) {
  const rejects: Reject[] = [];
  const r = await scoreSources(sources, p, pool, {
    onRejects: (rs) => {
      rejects.push(...rs);
    },
  });
  return {
    top: r.top.map((e) => [e.id, e.score, e.u]),
    audit: r.audit.map((e) => [e.id, e.u]),
    stats: r.stats,
    rejects: rejects.map((x) => [x.line, x.field, x.id]),
  };
}

const data = rows(300);
beforeAll(() => {
  pool = new ScoringPool({ threads: 1 });
  writeFileSync(join(dir, 'p.jsonl'), jsonl(data));
  writeFileSync(join(dir, 'p.arrow'), tableToIPC(table(data, 'list'), 'file'));
  writeFileSync(join(dir, 'cols.arrows'), tableToIPC(table(data, 'columns'), 'stream'));
  const wasm = pq.Table.fromIPCStream(tableToIPC(table(data, 'list'), 'stream'));
  writeFileSync(join(dir, 'p.parquet'), pq.writeParquet(wasm, new pq.WriterPropertiesBuilder().setMaxRowGroupSize(100).build()));
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('columnar sources', () => {
  it('Arrow IPC (file, seeking) and Parquet rank, draw and count exactly as JSONL', async () => {
    const ref = await run([fileSource(join(dir, 'p.jsonl'))].map((s) => ({ ...s, open: () => Readable.from([Buffer.from(jsonl(data))]) })));
    expect(ref.top).toHaveLength(20);
    expect(ref.stats.scored).toBe(295);
    for (const [file, p] of [
      ['p.arrow', params()],
      ['p.arrow', params({ arrowParallelMinBytes: 0 })],
      ['p.parquet', params()],
    ] as const) {
      // arrowParallelMinBytes 0: the record batches are pool tasks, read by index on the scoring threads.
      const got = await run([fileSource(join(dir, file))], p);
      expect(got.top, file).toEqual(ref.top);
      expect(got.audit, file).toEqual(ref.audit);
      expect(got.stats, file).toEqual(ref.stats);
      expect(got.rejects, file).toEqual(ref.rejects.map(([line, field]) => [line, field, line === 201 || line === 281 ? undefined : expect.any(String)]));
    }
  });

  it('reads Parquet objects one after another through one kept thread, each one whole, local or remote', async () => {
    // Different rows per object, so a group read from the wrong object (or not read) would show.
    const other = rows(300).map((r, i) => ({ ...r, id: r.id === null ? null : `o${i}`, probs: r.probs.slice().reverse() }));
    const wasm = pq.Table.fromIPCStream(tableToIPC(table(other, 'list'), 'stream'));
    const otherBytes = pq.writeParquet(wasm, new pq.WriterPropertiesBuilder().setMaxRowGroupSize(70).build());
    writeFileSync(join(dir, 'o.parquet'), otherBytes);
    writeFileSync(join(dir, 'o.jsonl'), jsonl(other));
    const asJsonl = (f: string, text: string) => ({ ...fileSource(join(dir, f)), open: () => Readable.from([Buffer.from(text)]) });
    const ref = await run([asJsonl('p.jsonl', jsonl(data)), asJsonl('o.jsonl', jsonl(other)), asJsonl('p.jsonl', jsonl(data))]);
    const got = await run([fileSource(join(dir, 'p.parquet')), bytesSource('o.parquet', otherBytes), fileSource(join(dir, 'p.parquet'))]);
    expect(got.stats).toEqual(ref.stats);
    expect(got.top).toEqual(ref.top);
    expect(got.audit).toEqual(ref.audit);
    expect(got.stats.read).toBe(900);
  });

  it('checks the generation a round pinned on a local Arrow file, on this thread and in the pool', async () => {
    const file = join(dir, 'g.arrow');
    writeFileSync(file, tableToIPC(table(data, 'list'), 'file'));
    const st = statSync(file, { bigint: true });
    const pinned = (generation: string): Source => ({
      ...fileSource(file),
      size: Number(st.size),
      generation,
      open: () => {
        throw new Error('should seek');
      },
    });
    for (const arrowParallelMinBytes of [undefined, 0]) {
      expect((await run([pinned(st.mtimeNs.toString())], params({ arrowParallelMinBytes }))).stats.scored).toBe(295);
      await expect(run([pinned((st.mtimeNs - 1n).toString())], params({ arrowParallelMinBytes }))).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: expect.stringContaining('changed since the round was planned'),
      });
    }
    unlinkSync(file);
    for (const arrowParallelMinBytes of [undefined, 0])
      await expect(run([pinned(st.mtimeNs.toString())], params({ arrowParallelMinBytes }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reads Arrow streams from any byte stream, and one float column per label', async () => {
    const ref = await run([fileSource(join(dir, 'p.arrow'))]);
    const stream = bytesSource('x.arrows', tableToIPC(table(data, 'columns', new Float64(), 64), 'stream'));
    expect((await run([stream])).top).toEqual(ref.top);
    const parquetBytes = bytesSource('remote.parquet', pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(table(data, 'list'), 'stream'))));
    expect((await run([parquetBytes])).top).toEqual(ref.top);
  });

  it('rejects bad rows with their 1-based row number and reason, and goes on', async () => {
    const got = await run([fileSource(join(dir, 'p.arrow'))]);
    expect(got.rejects).toEqual([
      [51, 'probs.a', 'r0050'],
      [101, 'probs.a', 'r0100'],
      [151, 'probs', 'r0150'],
      [201, 'id', undefined],
      [281, 'id', undefined],
    ]);
    const jsonRejects = (await run([bytesSource('p.jsonl', Buffer.from(jsonl(data)))])).rejects.map((r) => r[0]);
    expect(jsonRejects).toEqual([51, 101, 151, 201, 281]);
    // Without an audit sample most rows never materialise their id; the empty one is still caught.
    for (const arrowParallelMinBytes of [undefined, 0]) {
      const noAudit = await run([fileSource(join(dir, 'p.arrow'))], params({ auditK: 0, arrowParallelMinBytes }));
      expect(noAudit.rejects.map((r) => r[0])).toEqual([51, 101, 151, 201, 281]);
    }
  });

  it('widens float32 exactly and refuses what it cannot score column-wise', async () => {
    const f32 = bytesSource('f.arrow', tableToIPC(table(data, 'list', new Float32()), 'file'));
    const got = await run([f32]);
    expect(got.top).toHaveLength(20);
    expect(got.stats.scored).toBe(295);
    await expect(run([fileSource(join(dir, 'p.arrow'))], params({ strategy: { name: 'span-min', seed: 's' } }))).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
    }); // a config mismatch, never a quarantine
    const badType = bytesSource('i.arrow', tableToIPC(new Table({ id: makeVector(['x']), probs: makeVector([1]) }), 'file'));
    await expect(run([badType])).rejects.toThrow(/probs must be a list of floats/);
  });
});

function makeVector(values: Array<string | number>) {
  const b = makeBuilder({ type: typeof values[0] === 'string' ? new Utf8() : new Int32() });
  for (const v of values) b.append(v);
  return b.finish().toVector();
}

describe('corrupt Parquet', () => {
  it('ends in INPUT_INVALID naming the object, even when parquet-wasm traps inside wasm', async () => {
    const { tableFromJSON, tableToIPC } = await import('apache-arrow');
    const rows = Array.from({ length: 3000 }, (_, i) => ({ id: `r${i}`, text: `t${i}`, probs: [0.5, 0.3, 0.2] }));
    const good = Buffer.from(pq.writeParquet(pq.Table.fromIPCStream(tableToIPC(tableFromJSON(rows), 'stream'))));
    const outcomes = { ok: 0, invalid: 0, trapped: 0 };
    let x = 12345;
    // Seeded bit flips; about half hit data pages that make the wasm decoder trap ("unreachable"),
    // which in the main thread would kill the process from an uncatchable callback.
    for (let t = 0; t < 40; t++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const bytes = Buffer.from(good);
      bytes[x % bytes.length] ^= 1 << (t % 8);
      const source: Source = { uri: 'gs://b/p/flipped.parquet', name: 'flipped.parquet', open: () => Readable.from([bytes]) };
      try {
        await scoreSources(
          [source],
          {
            task: 'textcat',
            labels: LABELS,
            strategy: { name: 'entropy', seed: 's' },
            topK: 5,
            auditK: 0,
            keepEmbedding: false,
            maxLineBytes: 4096,
            probTolerance: 1e-3,
            chunkBytes: 65536,
            format: 'auto',
          },
          pool,
        );
        outcomes.ok++;
      } catch (err) {
        expect(err).toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('gs://b/p/flipped.parquet') });
        outcomes.invalid++;
        if (/unreachable/.test((err as Error).message)) outcomes.trapped++;
      }
    }
    expect(outcomes.ok + outcomes.invalid).toBe(40);
    expect(outcomes.trapped).toBeGreaterThan(0);
  }, 120_000);
});
