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
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { MessageHeader, RecordBatch, Struct, type Schema } from 'apache-arrow';
import { makeData } from 'apache-arrow/data';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { Message } from 'apache-arrow/ipc/metadata/message';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';

const MAGIC = 'ARROW1';
/** Trailer: int32 footer length + magic. */
const TRAILER = 4 + MAGIC.length;

function readAt(fd: number, into: Uint8Array, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, done, length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

/**
 * Body buffers of closed readers, reused by the next: a scoring thread opens the file once per
 * batch task, and a fresh 10 MB buffer each time outpaced the GC (peak RSS +100 MB at 10^7 rows).
 */
const spare: Uint8Array[] = [];
const MAX_SPARE = 2;

export class ArrowFileReader {
  readonly schema: Schema;
  private readonly footer: Footer;
  private body = spare.pop() ?? new Uint8Array(0);
  private fd: number | null;

  private constructor(fd: number, footer: Footer) {
    this.fd = fd;
    this.footer = footer;
    this.schema = footer.schema;
  }

  /** A reader over `path`, or null when it is not an Arrow IPC file this reader covers (see the module comment). */
  static open(path: string): ArrowFileReader | null {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      const head = new Uint8Array(MAGIC.length);
      if (size < 2 * MAGIC.length + TRAILER) return close(fd);
      readAt(fd, head, MAGIC.length, 0);
      if (Buffer.from(head).toString('latin1') !== MAGIC) return close(fd);
      const tail = new Uint8Array(TRAILER);
      readAt(fd, tail, TRAILER, size - TRAILER);
      const footerLength = new DataView(tail.buffer).getInt32(0, true);
      if (Buffer.from(tail.subarray(4)).toString('latin1') !== MAGIC || footerLength <= 0 || footerLength > size - TRAILER) return close(fd);
      const bytes = new Uint8Array(footerLength);
      readAt(fd, bytes, footerLength, size - TRAILER - footerLength);
      const footer = Footer.decode(bytes);
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

  /** Batch `index`, or null when its body is compressed (apache-arrow's reader decodes those). */
  readBatch(index: number): RecordBatch | null {
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
    readAt(this.fd, this.body, bodyLength, block.offset + block.metaDataLength);
    const loader = new VectorLoader(this.body.subarray(0, bodyLength), header.nodes, header.buffers, new Map(), this.schema.metadataVersion, header.variadicBufferCounts);
    const children = loader.visitMany(this.schema.fields);
    return new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length: header.length, children }));
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
