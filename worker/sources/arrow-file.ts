/**
 * Reads record batches of a local Arrow IPC *file* synchronously, by index,
 * into one reused body buffer, without apache-arrow: the metadata is decoded
 * by arrow-ipc.ts, and the columns are typed views into the body
 * (arrow-column.ts). apache-arrow's own file reader did an async read into a
 * fresh buffer per batch (at 10^7 rows 1.8 s, mostly the kernel zeroing new
 * pages), and loading it cost each scoring thread 100–150 ms.
 *
 * A returned batch views the shared buffer: it is valid until the next
 * readBatch() on the same reader. Files this does not cover get null from
 * open() (dictionaries, big-endian, metadata before V4, a column it cannot
 * lay out, or a used column of a type arrow-column.ts does not read) or from
 * readBatch() (a compressed body), and the caller uses apache-arrow's reader.
 *
 * A caller may also name the columns it reads (`BatchColumns`): only those
 * buffers are read, and of the `lazy` string columns all but their bytes;
 * fillBatch() reads the rest when strings are needed. The scorer needs ids
 * and texts only for the few rows that can reach a heap, and skipping them
 * and any unused column halves the bytes read.
 */
import { closeSync, fstatSync } from 'node:fs';
import { ArrowType, decodeBatchHeader, decodeFooter, fieldExtent, type IpcBatchHeader, type IpcField, type IpcFooter } from './arrow-ipc.js';
import { IpcBatch, IpcColumn, columnData, columnReadable, valuesClass, type ColumnBatch, type ColumnData, type ColumnValues } from './arrow-column.js';
import { readFooter } from './arrow-footer.js';
import { openObjectFile, readFully } from './line-range.js';

function readAt(fd: number, into: Uint8Array, length: number, position: number): void {
  const got = readFully(fd, into, 0, length, position);
  if (got < length) throw new Error(`unexpected end of file at byte ${position + got}`);
}

/**
 * Body buffers of closed readers, reused by the next: a scoring thread opens the file once per
 * batch task, and a fresh 10 MB buffer each time outpaced the GC (peak RSS +100 MB at 10^7 rows).
 */
const spare: Uint8Array[] = [];
const MAX_SPARE = 2;
/** Metadata versions read here: V4 (3) and V5 (4). */
const MIN_VERSION = 3;

/** Columns a reader of a batch uses; see the module comment. */
export interface BatchColumns {
  /** Read whole. */
  eager: readonly string[];
  /** String columns: read but for their bytes until fillBatch(); other types are read whole. */
  lazy: readonly string[];
}

/** Reads what a partial readBatch() left out: one row's strings, or (row undefined) everything. */
type Fill = (row?: number) => void;
const unread = new WeakMap<ColumnBatch, Fill>();

/**
 * Makes the lazy columns of a partly read batch readable: for `row` only (a
 * few small reads), or for every row. A no-op for batches read whole.
 */
export function fillBatch(batch: ColumnBatch, row?: number): void {
  const fill = unread.get(batch);
  if (fill === undefined) return;
  if (row === undefined) unread.delete(batch);
  fill(row);
}

/** A top-level column this reader builds: its field, first node and first buffer, and whether its bytes wait for fillBatch(). */
interface Planned {
  field: IpcField;
  node: number;
  buffer: number;
  buffers: number;
  lazy: boolean;
}

type Region = { offset: number; length: number };

export class ArrowFileReader {
  private body = spare.pop() ?? new Uint8Array(0);
  private fd: number | null;
  /** Batches read so far: a partly read batch can only be filled while it is the latest. */
  private reads = 0;

  private constructor(
    fd: number,
    private readonly footer: IpcFooter,
    private readonly planned: Planned[],
    private readonly totals: { nodes: number; buffers: number },
    private readonly whole: boolean,
    private readonly size: number,
  ) {
    this.fd = fd;
  }

  /**
   * A reader over `path` for `columns` (every column when not given), or null when the file is not
   * one this reader covers (see the module comment). With `generation`, a file that is not that
   * generation of `object` is NOT_FOUND (the fd it keeps pins the checked inode).
   */
  static open(path: string, generation?: string, object = path, columns?: BatchColumns): ArrowFileReader | null {
    const fd = openObjectFile(path, object, generation);
    try {
      // Streams, and files whose trailer does not hold up, are left to apache-arrow's reader.
      const read = readFooter(fd);
      if (read === null || 'malformed' in read) return close(fd);
      const footer = decodeFooter(read.footer);
      if (footer.version < MIN_VERSION || footer.bigEndian || footer.dictionaries > 0) return close(fd);
      const used = (name: string) => columns === undefined || columns.eager.includes(name) || columns.lazy.includes(name);
      const planned: Planned[] = [];
      const totals = { nodes: 0, buffers: 0 };
      const seen = new Set<string>();
      for (const field of footer.fields) {
        const extent = fieldExtent(field);
        if (extent === null) return close(fd);
        // apache-arrow's getChild() answers with the first column of a name; so does this reader.
        if (used(field.name) && !seen.has(field.name)) {
          if (!columnReadable(field)) return close(fd);
          const lazy = columns !== undefined && !columns.eager.includes(field.name) && field.typeId === ArrowType.Utf8;
          planned.push({ field, node: totals.nodes, buffer: totals.buffers, buffers: extent.buffers, lazy });
        }
        seen.add(field.name);
        totals.nodes += extent.nodes;
        totals.buffers += extent.buffers;
      }
      return new ArrowFileReader(fd, footer, planned, totals, columns === undefined, fstatSync(fd).size);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get numBatches(): number {
    return this.footer.batches.length;
  }

  /** Batch `index`, or null when its body is compressed (apache-arrow's reader decodes those). */
  readBatch(index: number): ColumnBatch | null {
    if (this.fd === null) throw new Error('reader is closed');
    const fd = this.fd;
    const block = this.footer.batches[index];
    if (block === undefined) throw new Error(`record batch ${index} is missing`);
    if (block.offset < 0 || block.metaDataLength < 8 || block.offset + block.metaDataLength > this.size)
      throw new Error(`record batch ${index}: its block lies outside the file`);
    const meta = new Uint8Array(block.metaDataLength);
    readAt(fd, meta, meta.length, block.offset);
    let header: IpcBatchHeader;
    try {
      header = decodeBatchHeader(meta);
    } catch (err) {
      throw new Error(`record batch ${index}: ${(err as Error).message}`, { cause: err });
    }
    if (header.compressed) return null;
    const { nodes, buffers, bodyLength } = header;
    // Checked before the body buffer grows to it: a corrupt length must not allocate gigabytes.
    if (bodyLength < 0 || block.offset + block.metaDataLength + bodyLength > this.size)
      throw new Error(`record batch ${index}: body of ${bodyLength} bytes runs past the end of the file`);
    if (nodes.length !== this.totals.nodes || buffers.length !== this.totals.buffers) {
      throw new Error(
        `record batch ${index} has ${nodes.length} nodes and ${buffers.length} buffers; its schema needs ${this.totals.nodes} and ${this.totals.buffers}`,
      );
    }
    for (const r of buffers)
      if (r.offset < 0 || r.length < 0 || r.offset + r.length > bodyLength) throw new Error(`record batch ${index}: a buffer lies outside its body`);
    // Rounded up so a later, slightly larger batch does not reallocate; never shrinks.
    if (this.body.length < bodyLength) this.body = new Uint8Array(Math.ceil((bodyLength * 1.25) / 8) * 8);
    const body = this.body.subarray(0, bodyLength);
    const at = block.offset + block.metaDataLength;
    const read = ++this.reads;
    const now: number[] = [];
    const later: number[] = [];
    const strings: Array<{ offsets: Int32Array; region: Region }> = [];
    for (const p of this.planned) for (let b = p.buffer; b < p.buffer + p.buffers; b++) (p.lazy && b === p.buffer + 2 ? later : now).push(b);
    if (this.whole) readAt(fd, body, bodyLength, at);
    else this.readBuffers(body, at, buffers, now);
    const columns = new Map<string, IpcColumn>();
    for (const p of this.planned) {
      if (nodes[p.node].length !== header.length)
        throw new Error(`record batch ${index}: column ${p.field.name} has ${nodes[p.node].length} rows, the batch ${header.length}`);
      const data = this.columnData(p.field, nodes, buffers, p.node, p.buffer, body, index);
      columns.set(p.field.name, new IpcColumn(p.field, data));
      if (p.lazy) strings.push({ offsets: data.valueOffsets, region: buffers[p.buffer + 2] });
    }
    const batch = new IpcBatch(header.length, columns);
    if (later.length > 0) {
      unread.set(batch, (row) => {
        if (this.reads !== read || this.fd !== fd) throw new Error('batch filled after the reader moved on');
        if (row === undefined) {
          this.readBuffers(body, at, buffers, later);
          return;
        }
        for (const { offsets, region } of strings) {
          const start = region.offset + offsets[row];
          const length = offsets[row + 1] - offsets[row];
          // Only the ends of the offsets were checked (columnData): a corrupt row in between reads nothing.
          if (length > 0 && offsets[row] >= 0 && offsets[row + 1] <= region.length) readAt(fd, body.subarray(start), length, at + start);
        }
      });
    }
    return batch;
  }

  /** A column's data from its node and buffers (layouts: arrow-ipc.ts); lists hold one leaf child. */
  private columnData(
    f: IpcField,
    nodes: IpcBatchHeader['nodes'],
    regions: readonly Region[],
    node: number,
    buffer: number,
    body: Uint8Array,
    index: number,
  ): ColumnData {
    const { length, nullCount } = nodes[node];
    const where = `record batch ${index}, column ${f.name}`;
    const nullBitmap = view(Uint8Array, body, regions[buffer], nullCount > 0 ? Math.ceil(length / 8) : 0, where);
    const empty = new Uint8Array(0);
    if (f.typeId === ArrowType.List || f.typeId === ArrowType.FixedSizeList) {
      const list = f.typeId === ArrowType.List;
      const child = this.columnData(f.children[0], nodes, regions, node + 1, buffer + (list ? 2 : 1), body, index);
      const valueOffsets = list ? view(Int32Array, body, regions[buffer + 1], length + 1, where) : new Int32Array(0);
      if (list ? !spans(valueOffsets, length, child.length) : child.length < length * (f.listSize ?? 0))
        throw new Error(`${where}: list values run past the child's ${child.length}`);
      return columnData(f.typeId, length, nullCount, nullBitmap, empty, valueOffsets, [child]);
    }
    if (f.typeId === ArrowType.Utf8) {
      const valueOffsets = view(Int32Array, body, regions[buffer + 1], length + 1, where);
      const bytes = regions[buffer + 2];
      if (!spans(valueOffsets, length, bytes.length)) throw new Error(`${where}: string offsets run past the ${bytes.length} bytes`);
      return columnData(f.typeId, length, nullCount, nullBitmap, body.subarray(bytes.offset, bytes.offset + bytes.length), valueOffsets, []);
    }
    return columnData(f.typeId, length, nullCount, nullBitmap, view(valuesClass(f), body, regions[buffer + 1], length, where), new Int32Array(0), []);
  }

  /** Reads the given buffers of a body at file offset `at`, merging neighbours into one read. */
  private readBuffers(body: Uint8Array, at: number, regions: readonly Region[], which: number[]): void {
    const spans = which
      .map((b) => regions[b])
      .filter((r) => r.length > 0)
      .sort((x, y) => x.offset - y.offset);
    for (let i = 0; i < spans.length; ) {
      const start = spans[i].offset;
      let end = start + spans[i].length;
      // Padding between buffers is at most 63 bytes: cheaper to read than to split the read.
      while (++i < spans.length && spans[i].offset <= end + 64) end = Math.max(end, spans[i].offset + spans[i].length);
      readAt(this.fd!, body.subarray(start), end - start, at + start);
    }
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
    if (spare.length < MAX_SPARE) spare.push(this.body);
    this.body = new Uint8Array(0);
  }
}

/** `count` elements of a buffer as a typed view (a copy when the writer did not align it). */
function view<T extends ColumnValues>(
  Kind: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number },
  body: Uint8Array,
  region: Region,
  count: number,
  where: string,
): T {
  const bytes = count * Kind.BYTES_PER_ELEMENT;
  if (bytes > region.length) throw new Error(`${where}: buffer of ${region.length} bytes is too short for ${count} values`);
  const start = body.byteOffset + region.offset;
  if (start % Kind.BYTES_PER_ELEMENT === 0) return new Kind(body.buffer, start, count);
  return new Kind(body.slice(region.offset, region.offset + bytes).buffer, 0, count);
}

/** Whether offsets[0 … length] stay within [0, limit] at both ends (the rows between are checked where read). */
function spans(offsets: Int32Array, length: number, limit: number): boolean {
  return offsets[0] >= 0 && offsets[length] <= limit;
}

function close(fd: number): null {
  closeSync(fd);
  return null;
}
