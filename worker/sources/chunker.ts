import type { Readable } from 'node:stream';

/** One run of whole lines handed to a worker thread. */
export interface LineChunk {
  bytes: Uint8Array;
  /** 1-based line number of the first line in `bytes`. */
  firstLine: number;
}

/** A line too long to keep: reported by number, its bytes never buffered. */
export interface OversizedLine {
  oversized: true;
  line: number;
}

export interface ChunkerOptions {
  /** Target bytes per chunk. */
  chunkBytes: number;
  /** Lines longer than this are skipped while streaming (memory stays bounded). */
  maxLineBytes: number;
  /** Kept at the number of the first line not yielded yet: where reading broke when the stream fails. */
  cursor?: { line: number };
}

function countNewlines(bytes: Uint8Array): number {
  // Buffer#indexOf is memchr: several times faster than Uint8Array#indexOf, and this runs on the main thread.
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let n = 0;
  let i = buf.indexOf(10);
  while (i !== -1) {
    n++;
    i = buf.indexOf(10, i + 1);
  }
  return n;
}

/**
 * Splits a byte stream into chunks that end on line boundaries. Memory is
 * bounded by chunkBytes + maxLineBytes whatever the input looks like.
 */
export async function* chunkLines(stream: Readable | AsyncIterable<Uint8Array>, opts: ChunkerOptions): AsyncGenerator<LineChunk | OversizedLine> {
  let parts: Uint8Array[] = [];
  let size = 0;
  let line = 1; // line number of the first byte in `parts`
  let skipping = false; // inside an oversized line
  let skipLine = 0;

  const flush = (upto: number): LineChunk => {
    const bytes = new Uint8Array(upto);
    let off = 0;
    const rest: Uint8Array[] = [];
    for (const p of parts) {
      if (off >= upto) {
        rest.push(p);
        continue;
      }
      const take = Math.min(p.length, upto - off);
      bytes.set(p.subarray(0, take), off);
      if (take < p.length) rest.push(p.subarray(take));
      off += take;
    }
    const chunk = { bytes, firstLine: line };
    line += countNewlines(bytes);
    if (opts.cursor) opts.cursor.line = line;
    parts = rest;
    size -= upto;
    return chunk;
  };

  if (opts.cursor) opts.cursor.line = line;
  try {
    for await (const raw of stream as AsyncIterable<Uint8Array>) {
      let buf: Uint8Array = raw;
      if (skipping) {
        const nl = buf.indexOf(10);
        if (nl === -1) continue;
        skipping = false;
        yield { oversized: true, line: skipLine };
        line = skipLine + 1;
        if (opts.cursor) opts.cursor.line = line;
        buf = buf.subarray(nl + 1);
      }
      parts.push(buf);
      size += buf.length;
      while (size >= opts.chunkBytes) {
        // Cut after the last newline in what we hold.
        const last = lastNewline(parts);
        if (last >= 0) {
          yield flush(last + 1);
          continue;
        }
        if (size > opts.maxLineBytes) {
          skipping = true;
          skipLine = line;
          parts = [];
          size = 0;
        }
        break;
      }
      if (!skipping && size > opts.maxLineBytes && lastNewline(parts) === -1) {
        skipping = true;
        skipLine = line;
        parts = [];
        size = 0;
      }
    }
  } catch (err) {
    // The stream broke (a truncated or corrupt object): the whole lines read before the break still go
    // out, so what is kept depends on the bytes before the break, not on how they were chunked.
    const last = skipping ? -1 : lastNewline(parts);
    if (last >= 0) yield flush(last + 1);
    throw err;
  }
  if (skipping) yield { oversized: true, line: skipLine };
  else if (size > 0) yield flush(size);
}

function lastNewline(parts: Uint8Array[]): number {
  let total = 0;
  for (const p of parts) total += p.length;
  let end = total;
  for (let i = parts.length - 1; i >= 0; i--) {
    end -= parts[i].length;
    const j = parts[i].lastIndexOf(10);
    if (j !== -1) return end + j;
  }
  return -1;
}
