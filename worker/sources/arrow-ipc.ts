/**
 * The Arrow IPC metadata the scorer needs, decoded straight from its
 * flatbuffers (format/File.fbs, Schema.fbs, Message.fbs): the footer's schema
 * and record-batch blocks, and a record batch's field nodes and buffers.
 *
 * Why not apache-arrow's decoders: loading apache-arrow costs each scoring
 * thread 100–150 ms of module compilation, a tenth of a 10^7-row run, for
 * a few hundred bytes of metadata per batch. Files this does not cover
 * (dictionaries, compressed bodies, big-endian, unions, views, run-end
 * encoding, metadata before V4) are reported as such, and the caller hands
 * them to apache-arrow's own reader.
 *
 * Every offset is bounds-checked: corrupt metadata throws an Error saying
 * what is wrong, never reads out of range.
 */

/** Arrow's `Type` union tags (Schema.fbs); the same numbers as apache-arrow's `Type` enum. */
export const ArrowType = {
  Null: 1,
  Int: 2,
  Float: 3,
  Binary: 4,
  Utf8: 5,
  Bool: 6,
  Decimal: 7,
  Date: 8,
  Time: 9,
  Timestamp: 10,
  Interval: 11,
  List: 12,
  Struct: 13,
  Union: 14,
  FixedSizeBinary: 15,
  FixedSizeList: 16,
  Map: 17,
  Duration: 18,
  LargeBinary: 19,
  LargeUtf8: 20,
  LargeList: 21,
} as const;

/** One field of a schema, with what reading its buffers needs. */
export interface IpcField {
  name: string;
  typeId: number;
  /** Int: bits and signedness. */
  bitWidth?: number;
  signed?: boolean;
  /** Float: 0 half, 1 single, 2 double. */
  precision?: number;
  /** FixedSizeList: values per row. */
  listSize?: number;
  /** Buffers this field's own node takes (children not counted); null when this reader cannot lay it out. */
  buffers: number | null;
  dictionary: boolean;
  children: IpcField[];
}

/** A record batch's place in the file. */
export interface IpcBlock {
  offset: number;
  metaDataLength: number;
  bodyLength: number;
}

export interface IpcFooter {
  /** MetadataVersion: 3 = V4, 4 = V5. */
  version: number;
  bigEndian: boolean;
  fields: IpcField[];
  dictionaries: number;
  batches: IpcBlock[];
}

export interface IpcBatchHeader {
  length: number;
  nodes: Array<{ length: number; nullCount: number }>;
  buffers: Array<{ offset: number; length: number }>;
  compressed: boolean;
  bodyLength: number;
}

const MESSAGE_RECORD_BATCH = 3;

/** Buffers per node by type; types left out are not laid out here (see the module comment). */
const OWN_BUFFERS: Partial<Record<number, number>> = {
  [ArrowType.Null]: 0,
  [ArrowType.Int]: 2,
  [ArrowType.Float]: 2,
  [ArrowType.Bool]: 2,
  [ArrowType.Decimal]: 2,
  [ArrowType.Date]: 2,
  [ArrowType.Time]: 2,
  [ArrowType.Timestamp]: 2,
  [ArrowType.Interval]: 2,
  [ArrowType.FixedSizeBinary]: 2,
  [ArrowType.Duration]: 2,
  [ArrowType.Binary]: 3,
  [ArrowType.Utf8]: 3,
  [ArrowType.LargeBinary]: 3,
  [ArrowType.LargeUtf8]: 3,
  [ArrowType.List]: 2,
  [ArrowType.LargeList]: 2,
  [ArrowType.Map]: 2,
  [ArrowType.FixedSizeList]: 1,
  [ArrowType.Struct]: 1,
};

/** A flatbuffer table: field i's position, or 0 when absent. */
class Table {
  private readonly vtable: number;
  private readonly vtableSize: number;

  constructor(
    private readonly fb: FlatBuffer,
    readonly pos: number,
  ) {
    this.vtable = pos - fb.i32(pos);
    this.vtableSize = fb.u16(this.vtable);
  }

  field(i: number): number {
    const slot = 4 + 2 * i;
    if (slot + 2 > this.vtableSize) return 0;
    const off = this.fb.u16(this.vtable + slot);
    return off === 0 ? 0 : this.pos + off;
  }

  u8(i: number, dflt: number): number {
    const p = this.field(i);
    return p === 0 ? dflt : this.fb.u8(p);
  }
  i16(i: number, dflt: number): number {
    const p = this.field(i);
    return p === 0 ? dflt : this.fb.i16(p);
  }
  i32(i: number, dflt: number): number {
    const p = this.field(i);
    return p === 0 ? dflt : this.fb.i32(p);
  }
  i64(i: number, dflt: number): number {
    const p = this.field(i);
    return p === 0 ? dflt : this.fb.i64(p);
  }
  /** The table field i points to, or null. */
  table(i: number): Table | null {
    const p = this.field(i);
    return p === 0 ? null : new Table(this.fb, this.fb.deref(p));
  }
  /** Position and length of vector field i (elements start at the position), or null. */
  vector(i: number): { at: number; length: number } | null {
    const p = this.field(i);
    if (p === 0) return null;
    const at = this.fb.deref(p);
    return { at: at + 4, length: this.fb.u32(at) };
  }
  string(i: number): string {
    const v = this.vector(i);
    return v === null ? '' : this.fb.text(v.at, v.length);
  }
  tables(i: number): Table[] {
    const v = this.vector(i);
    if (v === null) return [];
    const out: Table[] = [];
    for (let j = 0; j < v.length; j++) out.push(new Table(this.fb, this.fb.deref(v.at + 4 * j)));
    return out;
  }
}

/** Bounds-checked little-endian reads over one flatbuffer. */
class FlatBuffer {
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private check(at: number, size: number): void {
    if (!(at >= 0 && at + size <= this.bytes.length)) throw new Error(`${this.what}: offset ${at} out of range`);
  }

  u8(at: number): number {
    this.check(at, 1);
    return this.view.getUint8(at);
  }
  u16(at: number): number {
    this.check(at, 2);
    return this.view.getUint16(at, true);
  }
  i16(at: number): number {
    this.check(at, 2);
    return this.view.getInt16(at, true);
  }
  i32(at: number): number {
    this.check(at, 4);
    return this.view.getInt32(at, true);
  }
  u32(at: number): number {
    this.check(at, 4);
    return this.view.getUint32(at, true);
  }
  /** An int64 as a Number, from its two halves (no BigInt per field); beyond ±2^53 is an error. */
  i64(at: number): number {
    this.check(at, 8);
    const hi = this.view.getInt32(at + 4, true);
    if (hi >= 0x200000 || hi < -0x200000) throw new Error(`${this.what}: 64-bit value at ${at} out of range`);
    return hi * 0x1_0000_0000 + this.view.getUint32(at, true);
  }
  /** The position an offset at `at` points to. */
  deref(at: number): number {
    return at + this.u32(at);
  }
  text(at: number, length: number): string {
    this.check(at, length);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, length).toString('utf8');
  }
  root(): Table {
    return new Table(this, this.u32(0));
  }
}

function decodeField(t: Table): IpcField {
  const typeId = t.u8(2, 0);
  const type = t.table(3);
  const children = t.tables(5).map(decodeField);
  const field: IpcField = { name: t.string(0), typeId, buffers: OWN_BUFFERS[typeId] ?? null, dictionary: t.field(4) !== 0, children };
  if (typeId === ArrowType.Int && type !== null) {
    field.bitWidth = type.i32(0, 0);
    field.signed = type.u8(1, 0) !== 0;
  }
  if (typeId === ArrowType.Float && type !== null) field.precision = type.i16(0, 0);
  if (typeId === ArrowType.FixedSizeList && type !== null) field.listSize = type.i32(0, 0);
  return field;
}

/** The footer (the bytes readFooter() in arrow-footer.ts returns). */
export function decodeFooter(bytes: Uint8Array): IpcFooter {
  const fb = new FlatBuffer(bytes, 'footer');
  const root = fb.root();
  const schema = root.table(1);
  const blocks = root.vector(3);
  const batches: IpcBlock[] = [];
  // Block: offset int64, metaDataLength int32 (+4 padding), bodyLength int64.
  for (let j = 0; blocks !== null && j < blocks.length; j++) {
    const at = blocks.at + 24 * j;
    batches.push({ offset: fb.i64(at), metaDataLength: fb.i32(at + 8), bodyLength: fb.i64(at + 16) });
  }
  return {
    version: root.i16(0, 0),
    bigEndian: schema !== null && schema.i16(0, 0) === 1,
    fields: schema === null ? [] : schema.tables(1).map(decodeField),
    dictionaries: root.vector(2)?.length ?? 0,
    batches,
  };
}

/** How many record batches a footer lists, without decoding the rest. */
export function footerBatchCount(bytes: Uint8Array): number {
  return new FlatBuffer(bytes, 'footer').root().vector(3)?.length ?? 0;
}

/**
 * The header of the record-batch message `bytes` (a block's metadata: an
 * optional 0xFFFFFFFF continuation, the int32 length, the flatbuffer).
 */
export function decodeBatchHeader(bytes: Uint8Array): IpcBatchHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw new Error('record batch message too short');
  // Since format 0.15 a message starts with 0xFFFFFFFF, then its length; before, just the length.
  const prefix = view.getInt32(0, true) === -1 ? 8 : 4;
  const length = view.getInt32(prefix - 4, true);
  if (length <= 0 || prefix + length > bytes.length) throw new Error(`bad message length ${length}`);
  const fb = new FlatBuffer(bytes.subarray(prefix, prefix + length), 'record batch message');
  const message = fb.root();
  if (message.u8(1, 0) !== MESSAGE_RECORD_BATCH) throw new Error('message is not a record batch');
  const header = message.table(2);
  if (header === null) throw new Error('record batch message has no header');
  const structs = (i: number) => {
    const v = header.vector(i);
    const out: Array<[number, number]> = [];
    for (let j = 0; v !== null && j < v.length; j++) out.push([fb.i64(v.at + 16 * j), fb.i64(v.at + 16 * j + 8)]);
    return out;
  };
  return {
    length: header.i64(0, 0),
    nodes: structs(1).map(([len, nulls]) => ({ length: len, nullCount: nulls })),
    buffers: structs(2).map(([offset, len]) => ({ offset, length: len })),
    compressed: header.field(3) !== 0,
    bodyLength: message.i64(3, 0),
  };
}

/** Nodes and buffers a field takes with its children, or null when one of them cannot be laid out here. */
export function fieldExtent(f: IpcField): { nodes: number; buffers: number } | null {
  if (f.buffers === null || f.dictionary) return null;
  let nodes = 1;
  let buffers = f.buffers;
  for (const c of f.children) {
    const e = fieldExtent(c);
    if (e === null) return null;
    nodes += e.nodes;
    buffers += e.buffers;
  }
  return { nodes, buffers };
}
