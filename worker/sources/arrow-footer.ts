/**
 * How many record batches a local Arrow IPC file holds, read straight from
 * its footer's flatbuffer (arrow-ipc.ts): the main thread needs only that
 * number to hand the batches to the scoring threads, and loading apache-arrow
 * to get it cost ~0.2 s before the first task could leave.
 *
 * Anything that does not check out is INPUT_INVALID.
 */
import { closeSync, fstatSync } from 'node:fs';
import { footerBatchCount } from './arrow-ipc.js';
import { ReviewloopError } from '../../domain/errors.js';
import { openObjectFile, readFully } from './line-range.js';

/**
 * Arrow files from this size on are scored in the pool, batch by batch;
 * smaller ones on the main thread. Starting the threads costs ~0.1 s, and two
 * threads on a 2-vCPU machine do ~1.3x the work of one: measured with
 * `npm run bench`, 1M rows (118 MB) finish sooner on one thread (0.37 s vs
 * 0.52 s), 10M rows (1.2 GB) sooner in the pool (0.8 s vs ~3 s).
 */
export const ARROW_PARALLEL_MIN_BYTES = 256 * 1024 * 1024;

const MAGIC = Buffer.from('ARROW1');
/** int32 footer length + magic, at the end of the file. */
const TRAILER = 4 + MAGIC.length;

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  return buf.subarray(0, readFully(fd, buf, 0, length, position));
}

/**
 * The footer bytes of the Arrow IPC file open at `fd`: null when it is not the *file* format (a
 * stream, or not Arrow), `{ malformed }` when it starts like one but its trailer does not hold up.
 */
export function readFooter(fd: number): { footer: Buffer } | { malformed: string } | null {
  const size = fstatSync(fd).size;
  if (size < 2 * MAGIC.length + TRAILER || !readExactly(fd, MAGIC.length, 0).equals(MAGIC)) return null;
  const tail = readExactly(fd, TRAILER, size - TRAILER);
  if (!tail.subarray(4).equals(MAGIC)) return { malformed: 'no footer magic at the end' };
  const length = tail.readInt32LE(0);
  if (length <= 0 || length > size - TRAILER - MAGIC.length) return { malformed: `footer length ${length}` };
  return { footer: readExactly(fd, length, size - TRAILER - length) };
}

/** The count, or null when `path` is not the IPC *file* format (a stream: read front to back). A missing file, or not the pinned `generation`, is NOT_FOUND. */
export function arrowFileBatchCount(path: string, uri = path, generation?: string): number | null {
  const fd = openObjectFile(path, uri, generation);
  try {
    const bad = (why: string) => new ReviewloopError('INPUT_INVALID', `${uri}: not a readable arrow file: ${why}`, { details: { object: uri } });
    const read = readFooter(fd);
    if (read === null) return null;
    if ('malformed' in read) throw bad(read.malformed);
    try {
      return footerBatchCount(read.footer);
    } catch (err) {
      throw bad((err as Error).message);
    }
  } finally {
    closeSync(fd);
  }
}
