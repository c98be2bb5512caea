import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uniform01 } from '../../scoring/hash.js';
import { allocateEven, Sampler, sequenceKey, type Candidate, type SamplingName } from '../../scoring/sampling.js';

function items(strata: Record<string, number>): Candidate[] {
  const out: Candidate[] = [];
  for (const [s, n] of Object.entries(strata)) {
    for (let i = 0; i < n; i++) out.push({ id: `gs://b/raw/${s}/img-${i}.jpg`, source: { object: `raw/${s}/img-${i}.jpg`, line: 0 }, stratum: s });
  }
  return out;
}

function run(name: SamplingName, k: number, seed: string, list: Candidate[]) {
  const s = new Sampler<Candidate>(name, k, seed);
  for (const c of list) s.add(c);
  return s.result();
}

/** Deterministic shuffle, so arrival order can be varied without randomness in the test. */
function shuffled<T>(list: T[], seed: string): T[] {
  return list
    .map((x, i) => ({ x, k: uniform01(seed, String(i)) }))
    .sort((a, b) => a.k - b.k)
    .map((e) => e.x);
}

describe('random', () => {
  const list = items({ a: 300, b: 50 });

  it('is the k smallest seeded draws, in draw order, whatever the arrival order', () => {
    const want = [...list]
      .sort((a, b) => uniform01('s:R1', a.id) - uniform01('s:R1', b.id))
      .slice(0, 20)
      .map((c) => c.id);
    expect(run('random', 20, 's:R1', list).picked.map((p) => p.item.id)).toEqual(want);
    expect(run('random', 20, 's:R1', shuffled(list, 'x')).picked.map((p) => p.item.id)).toEqual(want);
    expect(run('random', 20, 's:R2', list).picked.map((p) => p.item.id)).not.toEqual(want);
  });

  it('never picks one id twice even when it arrives from two objects', () => {
    const dup = list.flatMap((c) => [c, { ...c, source: { object: `${c.source.object}.copy`, line: 0 } }]);
    const ids = run('random', 100, 'd', dup).picked.map((p) => p.item.id);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
  });

  it('picks everything when k exceeds the population, ranks 1..n', () => {
    const r = run('random', 1000, 's', list);
    expect(r.picked).toHaveLength(350);
    expect(r.picked.map((p) => p.rank)).toEqual(Array.from({ length: 350 }, (_, i) => i + 1));
    expect(r.population).toBe(350);
    expect(r.strata).toEqual([
      { stratum: 'a', available: 300, picked: 300 },
      { stratum: 'b', available: 50, picked: 50 },
    ]);
  });
});

describe('stratified-random', () => {
  it('spreads k evenly, gives a small stratum’s unused share to the others, and interleaves', () => {
    const r = run('stratified-random', 50, 'seed:R1', shuffled(items({ 'line-a': 200, 'line-b': 120, 'line-c': 3 }), 'q'));
    const by = Object.fromEntries(r.strata.map((s) => [s.stratum, s.picked]));
    expect(by['line-c']).toBe(3);
    expect(by['line-a'] + by['line-b']).toBe(47);
    expect(Math.abs(by['line-a'] - by['line-b'])).toBe(1);
    // Round-robin: the first 3 slots hold one item of each stratum.
    expect(new Set(r.picked.slice(0, 3).map((p) => p.item.stratum)).size).toBe(3);
    const ids = r.picked.map((p) => p.item.id);
    expect(new Set(ids).size).toBe(50);
  });

  it('within a stratum, picks its smallest draws', () => {
    const list = items({ a: 100, b: 100 });
    const r = run('stratified-random', 10, 'z', list);
    const wantA = list
      .filter((c) => c.stratum === 'a')
      .sort((x, y) => uniform01('z', x.id) - uniform01('z', y.id))
      .slice(0, 5)
      .map((c) => c.id);
    expect(r.picked.filter((p) => p.item.stratum === 'a').map((p) => p.item.id)).toEqual(wantA);
  });

  it('the odd slot goes to different strata in different rounds (seeded), deterministically', () => {
    const list = items({ a: 50, b: 50, c: 50 });
    const extraOf = (seed: string) => run('stratified-random', 4, seed, list).strata.find((s) => s.picked === 2)!.stratum;
    expect(extraOf('s:R1')).toBe(extraOf('s:R1'));
    const seen = new Set(['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8'].map((r) => extraOf(`s:${r}`)));
    expect(seen.size).toBeGreaterThan(1);
  });
});

describe('allocateEven', () => {
  it('by hand', () => {
    const order = (s: string) => s.charCodeAt(0);
    expect(
      Object.fromEntries(
        allocateEven(
          new Map([
            ['a', 10],
            ['b', 10],
            ['c', 10],
          ]),
          10,
          order,
        ),
      ),
    ).toEqual({ a: 4, b: 3, c: 3 });
    expect(
      Object.fromEntries(
        allocateEven(
          new Map([
            ['a', 1],
            ['b', 2],
            ['c', 100],
          ]),
          10,
          order,
        ),
      ),
    ).toEqual({ a: 1, b: 2, c: 7 });
    expect(
      Object.fromEntries(
        allocateEven(
          new Map([
            ['a', 1],
            ['b', 2],
          ]),
          10,
          order,
        ),
      ),
    ).toEqual({ a: 1, b: 2 });
    expect(Object.fromEntries(allocateEven(new Map(), 10, order))).toEqual({});
  });

  it('property: sums to min(k, total), respects availability, and unsaturated strata differ by at most one', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(40), { minLength: 1, maxLength: 8 }), fc.nat(150), (sizes, k) => {
        const avail = new Map(sizes.map((n, i) => [`s${i}`, n]));
        const alloc = allocateEven(avail, k, (s) => Number(s.slice(1)));
        const total = sizes.reduce((a, b) => a + b, 0);
        const got = [...alloc.values()];
        expect(got.reduce((a, b) => a + b, 0)).toBe(Math.min(k, total));
        for (const [s, n] of alloc) expect(n).toBeLessThanOrEqual(avail.get(s)!);
        const unsaturated = [...alloc].filter(([s, n]) => n < avail.get(s)!).map(([, n]) => n);
        const maxAll = Math.max(0, ...got);
        // A stratum left with room has at least as many as any other minus one: nothing was starved.
        for (const n of unsaturated) expect(maxAll - n).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('sequential', () => {
  it('is object-name order (as GCS lists: raw/a.txt before raw/a/z.txt), then line', () => {
    const list: Candidate[] = [
      { id: 'x#L10', source: { object: 'raw/b.jsonl', line: 10 }, stratum: '' },
      { id: 'x#L9', source: { object: 'raw/b.jsonl', line: 9 }, stratum: '' },
      { id: 'a', source: { object: 'raw/a.txt', line: 0 }, stratum: '' },
      { id: 'c', source: { object: 'raw/b.jsonl.old', line: 0 }, stratum: '' },
      { id: 'd', source: { object: 'raw/a/z.txt', line: 0 }, stratum: '' },
    ];
    expect(run('sequential', 4, 's', list).picked.map((p) => p.item.id)).toEqual(['a', 'd', 'x#L9', 'x#L10']);
    expect(sequenceKey({ object: 'a', line: 2 }) < sequenceKey({ object: 'a', line: 10 })).toBe(true);
  });
});
