/**
 * The part of apache-arrow's RecordBatch / Vector / Data API the columnar
 * scorer reads, so it can take batches from apache-arrow's readers and from
 * arrow-file.ts alike; and arrow-file.ts's implementation of it over raw IPC
 * buffers, for the column types the scorer reads (ints, floats, UTF-8, and
 * lists of those).
 */
import { ArrowType, type IpcField } from './arrow-ipc.js';

/** Typed values of a column (a string column's are its UTF-8 bytes). */
export type ColumnValues =
  | Float64Array
  | Float32Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** One chunk of a column (apache-arrow's Data). */
export interface ColumnData {
  readonly typeId: number;
  /** First row of the chunk within its buffers. */
  readonly offset: number;
  readonly length: number;
  readonly nullCount: number;
  readonly values: ColumnValues;
  /** Lists and strings: row i spans [valueOffsets[i], valueOffsets[i + 1]) of the values (or of the child). */
  readonly valueOffsets: Int32Array;
  /** Validity bits, LSB first; empty when the chunk has no nulls. */
  readonly nullBitmap: Uint8Array | undefined;
  readonly children: readonly ColumnData[];
}

/** A column (apache-arrow's Vector). */
export interface ColumnVector {
  readonly type: { readonly typeId: number; readonly listSize?: number; toString(): string };
  readonly data: readonly ColumnData[];
  readonly nullCount: number;
  isValid(row: number): boolean;
  /** Row's value: a string, number or bigint; null when the row is null. */
  get(row: number): unknown;
}

/** A record batch (apache-arrow's RecordBatch). */
export interface ColumnBatch {
  readonly numRows: number;
  getChild(name: string): ColumnVector | null;
}

// TextDecoder's defaults, as apache-arrow's decodeUtf8 (invalid bytes become U+FFFD, a leading BOM is dropped).
const utf8 = new TextDecoder('utf-8');

/** The type's name as apache-arrow prints it (for error messages). */
function typeName(f: IpcField): string {
  switch (f.typeId) {
    case ArrowType.Int:
      return `${f.signed === true ? 'Int' : 'Uint'}${f.bitWidth}`;
    case ArrowType.Float:
      return `Float${[16, 32, 64][f.precision ?? 2]}`;
    case ArrowType.Utf8:
      return 'Utf8';
    case ArrowType.List:
      return `List<${typeName(f.children[0])}>`;
    case ArrowType.FixedSizeList:
      return `FixedSizeList[${f.listSize}]<${typeName(f.children[0])}>`;
    default:
      return `type ${f.typeId}`;
  }
}

function leafReadable(f: IpcField): boolean {
  if (f.dictionary) return false;
  if (f.typeId === ArrowType.Utf8) return true;
  if (f.typeId === ArrowType.Float) return f.precision === 1 || f.precision === 2;
  return f.typeId === ArrowType.Int && [8, 16, 32, 64].includes(f.bitWidth ?? 0);
}

/** Whether an IpcColumn can stand for this field: the leaf types above, or a list of one. */
export function columnReadable(f: IpcField): boolean {
  if (f.typeId === ArrowType.List || f.typeId === ArrowType.FixedSizeList) return !f.dictionary && f.children.length === 1 && leafReadable(f.children[0]);
  return leafReadable(f);
}

/** The typed-array class holding a leaf field's values. */
export function valuesClass(f: IpcField): { new (buffer: ArrayBufferLike, byteOffset: number, length: number): ColumnValues; BYTES_PER_ELEMENT: number } {
  if (f.typeId === ArrowType.Float) return f.precision === 1 ? Float32Array : Float64Array;
  if (f.typeId === ArrowType.Int) {
    const signed = f.signed === true;
    switch (f.bitWidth) {
      case 8:
        return signed ? Int8Array : Uint8Array;
      case 16:
        return signed ? Int16Array : Uint16Array;
      case 32:
        return signed ? Int32Array : Uint32Array;
      default:
        return signed ? BigInt64Array : BigUint64Array;
    }
  }
  return Uint8Array;
}

/**
 * A ColumnData of arrow-file.ts. One object-literal site for every column type, so they all share
 * one hidden class: built in three places with spreads, they got several, and the scoring loops'
 * optimised code kept being thrown away ("wrong map") and recompiled (~25 ms of compiler time each).
 */
export function columnData(
  typeId: number,
  length: number,
  nullCount: number,
  nullBitmap: Uint8Array,
  values: ColumnValues,
  valueOffsets: Int32Array,
  children: ColumnData[],
): ColumnData {
  return { typeId, offset: 0, length, nullCount, values, valueOffsets, nullBitmap, children };
}

/** A column read by arrow-file.ts: views into its body buffer, valid until the reader's next batch. */
export class IpcColumn implements ColumnVector {
  readonly type: { readonly typeId: number; readonly listSize?: number; toString(): string };
  readonly data: readonly [ColumnData];

  constructor(field: IpcField, data: ColumnData) {
    const name = typeName(field);
    this.type = { typeId: field.typeId, listSize: field.listSize, toString: () => name };
    this.data = [data];
  }

  get nullCount(): number {
    return this.data[0].nullCount;
  }

  isValid(row: number): boolean {
    const d = this.data[0];
    const bits = d.nullBitmap;
    return d.nullCount === 0 || bits === undefined || bits.length === 0 || ((bits[row >> 3] >> (row & 7)) & 1) === 1;
  }

  get(row: number): unknown {
    if (!this.isValid(row)) return null;
    const d = this.data[0];
    if (d.typeId === ArrowType.Utf8) return utf8.decode(d.values.subarray(d.valueOffsets[row], d.valueOffsets[row + 1]));
    if (d.typeId === ArrowType.Int || d.typeId === ArrowType.Float) return d.values[row];
    throw new Error(`reading a ${this.type.toString()} row is not supported here`);
  }
}

/** A batch of IpcColumns by name. */
export class IpcBatch implements ColumnBatch {
  constructor(
    readonly numRows: number,
    private readonly columns: ReadonlyMap<string, IpcColumn>,
  ) {}

  getChild(name: string): IpcColumn | null {
    return this.columns.get(name) ?? null;
  }
}
