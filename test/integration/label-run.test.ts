import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLabelTable } from '../../scoring/label-issues/chunk.js';
import { findLabelIssuesInPool } from '../../worker/pool/label-run.js';
import { ScoringPool } from '../../worker/pool/pool.js';
import type { Source } from '../../worker/sources/sources.js';

const f = JSON.parse(readFileSync(new URL('../fixtures/label-issues/blobs-4x3000.json', import.meta.url), 'utf8')) as {
  labels: number[];
  predProbs: number[][];
  expected: { selfConfidence: { indices: number[] }; normalizedMargin: { indices: number[] } };
};
const LABELS = ['billing', 'shipping', 'returns', 'other'];
const line = (i: number) =>
  JSON.stringify({ id: `t${i}`, text: `ticket ${i}`, probs: Object.fromEntries(LABELS.map((l, j) => [l, f.predProbs[i][j]])), out_of_sample: true });

function source(name: string, bytes: Buffer): Source {
  return { uri: `mem://p/${name}`, name, size: bytes.length, open: () => Readable.from([bytes]) };
}

describe('label-issue passes in the worker pool', () => {
  const pool = new ScoringPool({ threads: 2 });
  afterAll(() => pool.close());
  const { table } = buildLabelTable(f.labels.map((c, i) => [`t${i}`, c] as const));
  const all = f.labels.map((_, i) => line(i));
  const base = { labels: LABELS, table, task: 'textcat' as const, probTolerance: 1e-3, format: 'auto' as const, snapshotVersion: 2 };

  it('flag the items cleanlab flags, in its order, across objects, gzip and small chunks; a broken object is set aside whole', async () => {
    const truncated = gzipSync(Buffer.from(`${all.slice(0, 50).join('\n')}\n`)).subarray(0, 200);
    const sources = [
      source('part-0.jsonl', Buffer.from(`${all.slice(0, 1200).join('\n')}\n`)),
      source('broken.jsonl.gz', truncated),
      source(
        'part-1.jsonl.gz',
        gzipSync(
          Buffer.from(`${all.slice(1200).join('\n')}\n${JSON.stringify({ id: 'zz', text: 'x', probs: { billing: 1, shipping: 0, returns: 0, other: 0 } })}\n`),
        ),
      ),
    ];
    for (const [rankBy, key] of [
      ['self-confidence', 'selfConfidence'],
      ['normalized-margin', 'normalizedMargin'],
    ] as const) {
      const r = await findLabelIssuesInPool(sources, base, pool, { chunkBytes: 64 * 1024, maxLineBytes: 1 << 20, rankBy });
      expect(r.issues.map((x) => Number(x.payload.id.slice(1)))).toEqual(f.expected[key].indices);
      expect(r.quarantined.map((q) => [q.object, q.code])).toEqual([['mem://p/broken.jsonl.gz', 'GZIP_TRUNCATED']]);
      expect(r.rejects.map((x) => [x.object, x.line, x.field])).toEqual([['mem://p/part-1.jsonl.gz', 1801, 'out_of_sample']]);
      expect([r.read, r.used]).toEqual([3001, 3000]);
    }
  });
});
