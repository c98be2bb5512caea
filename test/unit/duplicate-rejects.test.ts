import { describe, expect, it } from 'vitest';
import { BottomK, COPIES_PER_ID, TopK } from '../../scoring/topk.js';
import type { ScoredEntry } from '../../scoring/types.js';
import { duplicateRejects } from '../../worker/round/finish-round.js';
import { select } from '../../domain/select.js';

const at = (id: string, line: number, score: number, u: number): ScoredEntry => ({ id, score, u, source: { object: 'o', line }, record: { id } });

describe('duplicate reject lines', () => {
  it('never name the queued copy: the audit heap may keep another copy than the top heap (copies share their draw)', () => {
    // x's best score is at line 2, its first line (what the audit heap keeps, draws being equal) is line 1.
    const rows = [at('x', 1, 0.2, 0.1), at('x', 2, 0.9, 0.1), at('y', 3, 0.5, 0.7), at('z', 4, 0.1, 0.8), at('w', 5, 0.05, 0.9)];
    const top = new TopK<ScoredEntry>(3, { copiesPerId: COPIES_PER_ID });
    const audit = new BottomK<ScoredEntry>(1, { copiesPerId: COPIES_PER_ID });
    for (const r of rows) {
      top.push(r);
      audit.push(r);
    }
    const scores = { top: top.values(), audit: audit.values(), copies: { top: top.copies(), audit: audit.copies() } };
    const items = select(scores.top, scores.audit, rows.length, { topK: 3, auditFraction: 1 / 3, labels: [] }).items;
    const queuedX = items.find((i) => i.entry.id === 'x')!;
    expect(queuedX).toMatchObject({ audit: true, entry: { source: { line: 1 } } });
    const rejects = duplicateRejects(items, scores);
    expect(rejects.map((r) => [r.id, r.line])).toEqual([['x', 2]]);
    expect(rejects[0].reason).toContain('o#L1 is queued');
  });
});
