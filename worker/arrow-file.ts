/**
 * Reads record batches of a local Arrow IPC *file* synchronously, by index,
 * into one reused body buffer. apache-arrow's own file reader does an async
 * read into a fresh buffer per batch: at 10^7 rows that was 1.8 s, mostly the
 * kernel zeroing new pages, for 0.15 s of copying. The footer and the batch
 * headers are still decoded by apache-arrow's flatbuffer code, and the columns
 * by its VectorLoader (zero-copy views into the body), so a batch read here is
 * the same RecordBatch apache-arrow would build.
 *
 * A returned batch views the shared buffer: it is valid until the next
 * readBatch() on the same reader. Files this does not cover (dictionaries,
 * compressed bodies) get null, and the caller uses apache-arrow's reader.
 *
 * A caller may also name the columns it reads (`BatchColumns`): only those
 * buffers are read, and of the `lazy` ones all but the last (a string
 * column's bytes); fillBatch() reads the rest when strings are needed. The
 * scorer needs ids and texts only for the few rows that can reach a heap, and
 * skipping them and any unused column halves the bytes read.
 */
import { closeSync } from 'node:fs';
import { MessageHeader, RecordBatch, Struct, Type, type Schema } from 'apache-arrow';
import { makeData } from 'apache-arrow/data';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { Message } from 'apache-arrow/ipc/metadata/message';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
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

/** Columns a reader of a batch uses; see the module comment. */
export interface BatchColumns {
  /** Read whole. */
  eager: readonly string[];
  /** Read but for their last buffer (a string column's bytes) until fillBatch(). */
  lazy: readonly string[];
}

/** Reads what a partial readBatch() left out: one row's strings, or (row undefined) everything. */
type Fill = (row?: number) => void;
const unread = new WeakMap<RecordBatch, Fill>();

/**
 * Makes the lazy columns of a partly read batch readable: for `row` only (a
 * few small reads), or for every row. A no-op for batches read whole.
 */
export function fillBatch(batch: RecordBatch, row?: number): void {
  const fill = unread.get(batch);
  if (fill === undefined) return;
  if (row === undefined) unread.delete(batch);
  fill(row);
}

export class ArrowFileReader {
  readonly schema: Schema;
  private readonly footer: Footer;
  private body = spare.pop() ?? new Uint8Array(0);
  private fd: number | null;
  /** Batches read so far: a partly read batch can only be filled while it is the latest. */
  private reads = 0;

  private constructor(fd: number, footer: Footer) {
    this.fd = fd;
    this.footer = footer;
    this.schema = footer.schema;
  }

  /**
   * A reader over `path`, or null when it is not an Arrow IPC file this reader covers (see the
   * module comment). With `generation`, a file that is not that generation of `object` is NOT_FOUND
   * (the fd it keeps pins the checked inode).
   */
  static open(path: string, generation?: string, object = path): ArrowFileReader | null {
    const fd = openObjectFile(path, object, generation);
    try {
      // Streams, and files whose trailer does not hold up, are left to apache-arrow's reader.
      const read = readFooter(fd);
      if (read === null || 'malformed' in read) return close(fd);
      const footer = Footer.decode(read.footer);
      if (footer.numDictionaries > 0 || footer.schema.dictionaries.size > 0) return close(fd);
      return new ArrowFileReader(fd, footer);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get numBatches(): number {
    return this.footer.numRecordBatches;
  }

  /** Batch `index`, or null when its body is compressed (apache-arrow's reader decodes those). With `columns`, read partly (see the module comment). */
  readBatch(index: number, columns?: BatchColumns): RecordBatch | null {
    if (this.fd === null) throw new Error('reader is closed');
    const block = this.footer.getRecordBatch(index);
    if (block === null) throw new Error(`record batch ${index} is missing`);
    const meta = new Uint8Array(block.metaDataLength);
    readAt(this.fd, meta, meta.length, block.offset);
    const view = new DataView(meta.buffer);
    // Since format 0.15 a message starts with 0xFFFFFFFF, then its length; before, just the length.
    const prefix = view.getInt32(0, true) === -1 ? 8 : 4;
    const length = view.getInt32(prefix - 4, true);
    if (length <= 0 || prefix + length > meta.length) throw new Error(`record batch ${index}: bad message length ${length}`);
    const message = Message.decode(meta.subarray(prefix, prefix + length));
    if (message.headerType !== MessageHeader.RecordBatch) throw new Error(`record batch ${index}: message is not a record batch`);
    const header = message.header() as import('apache-arrow/ipc/metadata/message').RecordBatch;
    if (header.compression !== null) return null;
    const bodyLength = message.bodyLength;
    // Rounded up so a later, slightly larger batch does not reallocate; never shrinks.
    if (this.body.length < bodyLength) this.body = new Uint8Array(Math.ceil(bodyLength * 1.25 / 8) * 8);
    const body = this.body.subarray(0, bodyLength);
    const at = block.offset + block.metaDataLength;
    const read = ++this.reads;
    const loader = new VectorLoader(body, header.nodes, header.buffers, new Map(), this.schema.metadataVersion, header.variadicBufferCounts);
    // Which buffers each top-level column took, as the loader consumed them (no per-type layout table here).
    const counter = loader as unknown as { buffersIndex: number };
    const children = this.schema.fields.map((f) => {
      const first = counter.buffersIndex + 1;
      const data = loader.visit(f);
      return { data, name: f.name, first, last: counter.buffersIndex };
    });
    const batch = new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length: header.length, children: children.map((c) => c.data) }));
    if (columns === undefined) {
      readAt(this.fd, body, bodyLength, at);
      return batch;
    }
    const now = new Set<number>();
    // Lazy string columns: their bytes, read per row through the offsets (read now) when asked.
    const strings: Array<{ offsets: Int32Array; region: { offset: number; length: number } }> = [];
    for (const c of children) {
      const lazy = columns.lazy.includes(c.name) && (c.data.typeId === Type.Utf8 || c.data.typeId === Type.Binary) && c.last > c.first;
      const upTo = columns.eager.includes(c.name) || (columns.lazy.includes(c.name) && !lazy) ? c.last : lazy ? c.last - 1 : c.first - 1;
      for (let b = c.first; b <= upTo; b++) now.add(b);
      if (lazy) strings.push({ offsets: c.data.valueOffsets as Int32Array, region: header.buffers[c.last] });
    }
    const later = header.buffers.map((_, b) => b).filter((b) => !now.has(b));
    this.readBuffers(body, at, header.buffers, [...now]);
    if (later.length > 0) {
      const fd = this.fd;
      unread.set(batch, (row) => {
        if (this.reads !== read || this.fd !== fd) throw new Error('batch filled after the reader moved on');
        if (row === undefined) { this.readBuffers(body, at, header.buffers, later); return; }
        for (const { offsets, region } of strings) {
          const start = region.offset + offsets[row];
          const length = offsets[row + 1] - offsets[row];
          if (length > 0 && offsets[row + 1] <= region.length) readAt(fd, body.subarray(start), length, at + start);
        }
      });
    }
    return batch;
  }

  /** Reads the given buffers of a body at file offset `at`, merging neighbours into one read. */
  private readBuffers(body: Uint8Array, at: number, regions: ReadonlyArray<{ offset: number; length: number }>, which: number[]): void {
    const spans = which.map((b) => regions[b]).filter((r) => r.length > 0).sort((x, y) => x.offset - y.offset);
    for (let i = 0; i < spans.length;) {
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

function close(fd: number): null {
  closeSync(fd);
  return null;
}
