import { describe, expect, it } from 'vitest';
import { createProgress } from '../../worker/core/progress.js';

/** A stream that records what the bar writes; `isTTY` decides whether it draws at all. */
function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return {
    writes,
    stream: {
      isTTY,
      write: (s: string) => {
        writes.push(s);
        return true;
      },
    } as unknown as NodeJS.WriteStream,
  };
}

describe('the progress bar', () => {
  it('draws nothing on a pipe (not a TTY)', () => {
    const { writes, stream } = fakeStream(false);
    const p = createProgress({ stream, intervalMs: 0, totalBytes: 100 });
    p.update(10, 50);
    p.done();
    expect(writes).toEqual([]);
  });

  it('on a terminal names what it counts, with records, bytes of the total, percent and ETA, and clears itself', () => {
    const { writes, stream } = fakeStream(true);
    const p = createProgress({ stream, intervalMs: 0, totalBytes: 2_000_000, label: 'round 20261101T0200Z: 3 object(s)' });
    p.update(1500, 1_000_000);
    const line = writes.at(-1)!;
    expect(line).toContain('round 20261101T0200Z: 3 object(s): 1.5k records');
    expect(line).toContain(' 50.0% ');
    expect(line).toContain('1.00MB of 2.00MB');
    expect(line).toMatch(/ETA \d+:\d{2}/);
    p.done();
    expect(writes.at(-1)).toBe('\r\u001b[K');
  });

  it('is cleared before a log line on the same stream, and comes back at its next update', async () => {
    const { createLogger } = await import('../../worker/core/log.js');
    const { writes, stream } = fakeStream(true);
    const p = createProgress({ stream, intervalMs: 0, label: 'round R' });
    p.update(10, 10);
    createLogger({ stream, json: false }).warn('object quarantined');
    expect(writes.slice(-2)).toEqual(['\r\u001b[K', 'WARNING object quarantined\n']);
    p.update(20, 20);
    expect(writes.at(-1)).toContain('round R: 20 records');
    p.done();
    expect(writes.at(-1)).toBe('\r\u001b[K');
  });
});
