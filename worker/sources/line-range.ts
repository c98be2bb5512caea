/**
 * Byte ranges of a local JSONL file, read by the scoring threads themselves:
 * the main thread never touches the data, so on a 2-core machine both cores
 * parse instead of one of them copying bytes into messages.
 *
 * A range [start, end) owns every line that *starts* inside it. Its thread
 * reads one byte before `start` to learn whether a line starts at `start`,
 * and reads past `end` to the newline that ends its last line. Ranges are cut
 * at fixed offsets without looking at the data, and no line is read twice or
 * missed. Line numbers are not known inside a range; its scorer reports how
 * many lines it owned and the caller adds the lines of the ranges before it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ReviewloopError } from '../../domain/errors.js';

/** One byte range of a local file, planned by {@link planRanges}. */
export interface FileRange {
  path: string;
  /** First byte of the range (inclusive). */
  start: number;
  /** End of the range (exclusive). */
  end: number;
  /** File size when the run was planned: bytes appended later are not read. */
  size: number;
  /** The version a round pinned (mtime in ns): a file replaced since fails with NOT_FOUND, as the store would. */
  generation?: string;
}

/**
 * Ranges of `rangeBytes` covering a file of `size` bytes. With `threads`, the
 * last 2 x threads x rangeBytes are cut smaller, each range 1/(2 x threads) of
 * what is left, down to rangeBytes / 16: the threads then finish together,
 * instead of one waiting out the other's last full range (~60 ms of a 0.7 s
 * run over 10^6 records).
 */
export function planRanges(path: string, size: number, rangeBytes: number, generation?: string, threads = 0): FileRange[] {
  const step = Math.max(1, Math.floor(rangeBytes));
  const least = Math.max(1, Math.floor(step / 16));
  const out: FileRange[] = [];
  for (let start = 0, length = step; start < size; start += length) {
    const left = size - start;
    length = threads > 0 && left < 2 * threads * step ? Math.max(least, Math.ceil(left / (2 * threads))) : step;
    out.push({ path, start, end: Math.min(size, start + length), size, ...(generation === undefined ? {} : { generation }) });
  }
  return out;
}

/** The lines a range owns. */
export interface RangeLines {
  /** Whole lines; the last one lacks its newline only at the end of the file. */
  bytes: Uint8Array;
  /** 1-based number (within the range) of a last line longer than `maxLineBytes`, left unread; 0 when none. */
  oversizedLine: number;
}

// One buffer per thread, reused by every range it reads; scoring copies out whatever it keeps.
let scratch = Buffer.allocUnsafe(0);

function room(n: number): Buffer {
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, Math.floor(scratch.length * 1.5)));
  return scratch;
}

/** Reads up to `len` bytes at `position` into buf[at…], looping over short reads; returns how many (fewer only at the end of the file). */
export function readFully(fd: number, buf: Uint8Array, at: number, len: number, position: number): number {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, at + got, len - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

function countNewlines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = buf.indexOf(10, from); i !== -1 && i < to; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/**
 * Opens an object's local file for reading; a missing file is NOT_FOUND naming `object`, as a store
 * read would be, and so is one whose generation (mtime in ns) is not `generation` when given. The
 * open fd pins one inode (the local store replaces files by rename), so the check covers every
 * byte read through it.
 */
export function openObjectFile(path: string, object: string, generation?: string): number {
  const fd = openFile(path, object);
  try {
    if (generation !== undefined) checkGeneration(fstatSync(fd, { bigint: true }).mtimeNs, generation, object);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** NOT_FOUND unless an open file's mtime (ns) is the generation a round pinned for `object`. */
export function checkGeneration(mtimeNs: bigint, generation: string, object: string): void {
  if (mtimeNs.toString() !== generation) {
    throw new ReviewloopError('NOT_FOUND', `${object}#${generation}: the object changed since the round was planned`, { details: { object } });
  }
}

function openFile(path: string, object: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ReviewloopError('NOT_FOUND', `${object}: no such object`, { cause: err, details: { object } });
    throw err;
  }
}

/** Reads the lines `range` owns (see the module comment). */
export function readRangeLines(range: FileRange, maxLineBytes: number): RangeLines {
  const fd = openObjectFile(range.path, range.path, range.generation);
  try {
    const from = range.start === 0 ? 0 : range.start - 1;
    const head = range.end - from;
    // Room for the tail line past `end` too, so it rarely costs a copy of the whole range.
    let buf = room(head + 64 * 1024);
    const got = readFully(fd, buf, 0, head, from);
    if (got < head) throw new Error(`${range.path} shrank while being read (wanted ${head} bytes at ${from}, got ${got})`);
    // The first line this range owns starts after the first newline at or after start-1.
    let first = 0;
    if (range.start > 0) {
      const nl = buf.indexOf(10);
      if (nl === -1 || nl + 1 >= head) return { bytes: new Uint8Array(0), oversizedLine: 0 };
      first = nl + 1;
    }
    let len = head;
    let oversizedLine = 0;
    if (buf[head - 1] !== 10 && range.end < range.size) {
      // The last line runs past `end`: read on to its newline, or give up on it past maxLineBytes.
      const lastNl = buf.lastIndexOf(10, head - 1);
      const tailStart = lastNl >= first ? lastNl + 1 : first;
      let pos = range.end;
      for (;;) {
        const want = Math.min(64 * 1024, range.size - pos, tailStart + maxLineBytes + 1 - len);
        if (want <= 0) break;
        if (buf.length < len + want) {
          const grown = Buffer.allocUnsafe(Math.max(len + want, Math.floor(buf.length * 1.5)));
          buf.copy(grown, 0, 0, len);
          buf = scratch = grown;
        }
        const n = readFully(fd, buf, len, want, pos);
        if (n === 0) break;
        const nl = buf.indexOf(10, len);
        pos += n;
        if (nl !== -1 && nl < len + n) {
          len = nl + 1;
          break;
        }
        len += n;
      }
      if (len - tailStart > maxLineBytes && buf[len - 1] !== 10) {
        oversizedLine = countNewlines(buf, first, tailStart) + 1;
        len = tailStart;
      }
    }
    return { bytes: buf.subarray(first, len), oversizedLine };
  } finally {
    closeSync(fd);
  }
}
