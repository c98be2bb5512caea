import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { chunkLines, type LineChunk, type OversizedLine } from '../../worker/sources/chunker.js';
import { decompressed } from '../../worker/sources/sources.js';

async function collect(parts: Uint8Array[], chunkBytes: number, maxLineBytes: number) {
  const out: Array<LineChunk | OversizedLine> = [];
  for await (const c of chunkLines(Readable.from(parts), { chunkBytes, maxLineBytes })) out.push(c);
  return out;
}

describe('chunkLines', () => {
  it('cuts on line boundaries and numbers lines across chunks, whatever the input split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '\n'), maxLength: 30 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 16 }),
        async (pieces, chunkBytes) => {
          const text = pieces.join('');
          const parts = pieces.map((p) => Buffer.from(p));
          const chunks = (await collect(parts, chunkBytes, 1 << 20)) as LineChunk[];
          const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.bytes))).toString();
          expect(joined).toBe(text);
          let line = 1;
          for (const c of chunks) {
            expect(c.firstLine).toBe(line);
            const s = Buffer.from(c.bytes).toString();
            if (c !== chunks[chunks.length - 1]) expect(s.endsWith('\n')).toBe(true);
            line += s.split('\n').length - 1;
          }
        },
      ),
    );
  });

  it('skips an oversized line without buffering it, and keeps counting lines', async () => {
    const big = 'x'.repeat(5000);
    const parts = [Buffer.from('{"a":1}\n'), ...Array.from({ length: 10 }, () => Buffer.from(big)), Buffer.from('\n{"b":2}\n')];
    const out = await collect(parts, 64, 1000);
    expect(out).toEqual([
      { bytes: new Uint8Array(Buffer.from('{"a":1}\n')), firstLine: 1 },
      { oversized: true, line: 2 },
      { bytes: new Uint8Array(Buffer.from('{"b":2}\n')), firstLine: 3 },
    ]);
  });
});

describe('decompressed', () => {
  const read = async (it: AsyncIterable<Uint8Array>) => {
    const bufs: Buffer[] = [];
    for await (const b of it) bufs.push(Buffer.from(b));
    return Buffer.concat(bufs).toString();
  };
  it('passes plain text through and gunzips by name or magic bytes', async () => {
    expect(await read(decompressed(Readable.from([Buffer.from('plain\n')]), 'a.jsonl'))).toBe('plain\n');
    expect(await read(decompressed(Readable.from([gzipSync('zipped\n')]), 'a.jsonl'))).toBe('zipped\n');
    expect(await read(decompressed(Readable.from([gzipSync('zipped\n')]), 'a.jsonl.gz'))).toBe('zipped\n');
  });
  it('stops a gzip bomb with a typed error', async () => {
    const bomb = gzipSync(Buffer.alloc(8 * 1024 * 1024));
    await expect(read(decompressed(Readable.from([bomb]), 'bomb.jsonl.gz', { maxRatio: 100, graceBytes: 1024 }))).rejects.toMatchObject({
      code: 'INPUT_INVALID',
    });
  });
  it('reports corrupt gzip as INPUT_INVALID', async () => {
    await expect(read(decompressed(Readable.from([Buffer.from([0x1f, 0x8b, 1, 2, 3])]), 'x.gz'))).rejects.toMatchObject({ code: 'INPUT_INVALID' });
  });
});
