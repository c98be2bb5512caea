import { describe, expect, it } from 'vitest';
import { fillPolygon, rasterizePolygons } from '../../scoring/segmentation/rasterize.js';
import { rasterizeSpans, readPolygonSpans } from '../../scoring/segmentation/spans.js';

function grid(out: Uint8Array, w: number): string[] {
  const rows: string[] = [];
  for (let i = 0; i < out.length; i += w) rows.push([...out.subarray(i, i + w)].join(''));
  return rows;
}

function fill(rings: number[][][], w: number, h: number): string[] {
  const out = new Uint8Array(w * h);
  fillPolygon(rings, 1, out, w, h);
  return grid(out, w);
}

describe('pixel-centre sampling, even-odd, half-open spans', () => {
  it('square (1,1)–(3,3) covers the pixels whose centres 1.5 and 2.5 are inside', () => {
    expect(
      fill(
        [
          [
            [1, 1],
            [3, 1],
            [3, 3],
            [1, 3],
          ],
        ],
        4,
        4,
      ),
    ).toEqual(['0000', '0110', '0110', '0000']);
  });
  it('centres on the left/top edge are in, on the right/bottom edge out: (0.5,0.5)–(2.5,2.5) → pixels 0..1', () => {
    expect(
      fill(
        [
          [
            [0.5, 0.5],
            [2.5, 0.5],
            [2.5, 2.5],
            [0.5, 2.5],
          ],
        ],
        3,
        3,
      ),
    ).toEqual(['110', '110', '000']);
  });
  // Triangle (0,0), (4,0), (0,4): centre (x+.5, y+.5) is inside when x + y + 1 < 4.
  it('right triangle by hand', () => {
    expect(
      fill(
        [
          [
            [0, 0],
            [4, 0],
            [0, 4],
          ],
        ],
        4,
        4,
      ),
    ).toEqual(['1110', '1100', '1000', '0000']);
  });
  it('a hole ring is empty whatever its orientation', () => {
    const outer = [
      [0, 0],
      [5, 0],
      [5, 5],
      [0, 5],
    ];
    const hole = [
      [1, 1],
      [4, 1],
      [4, 4],
      [1, 4],
    ];
    const expected = ['11111', '10001', '10001', '10001', '11111'];
    expect(fill([outer, hole], 5, 5)).toEqual(expected);
    expect(fill([outer, [...hole].reverse()], 5, 5)).toEqual(expected);
  });
  it('a keyhole polygon (hole joined by a doubled bridge) rasterises like outline + hole', () => {
    // Outline, then bridge (0,0)→(1,1), hole around, back (1,1)→(0,0); the bridge runs through centre (0.5, 0.5).
    const keyhole = [
      [0, 0],
      [1, 1],
      [1, 4],
      [4, 4],
      [4, 1],
      [1, 1],
      [0, 0],
      [5, 0],
      [5, 5],
      [0, 5],
    ];
    expect(fill([keyhole], 5, 5)).toEqual(['11111', '10001', '10001', '10001', '11111']);
  });
  it('two polygons sharing an edge never both claim a pixel', () => {
    const out = rasterizePolygons(
      [
        {
          rings: [
            [
              [0, 0],
              [2.5, 0],
              [2.5, 2],
              [0, 2],
            ],
          ],
          classIndex: 1,
        },
        {
          rings: [
            [
              [2.5, 0],
              [5, 0],
              [5, 2],
              [2.5, 2],
            ],
          ],
          classIndex: 2,
        },
      ],
      5,
      2,
    );
    expect(grid(out, 5)).toEqual(['11222', '11222']);
  });
  it('later polygons win overlaps; parts outside the image are clipped', () => {
    const out = rasterizePolygons(
      [
        {
          rings: [
            [
              [-10, -10],
              [10, -10],
              [10, 10],
              [-10, 10],
            ],
          ],
          classIndex: 1,
        },
        {
          rings: [
            [
              [1, 1],
              [2, 1],
              [2, 2],
              [1, 2],
            ],
          ],
          classIndex: 2,
        },
      ],
      3,
      3,
    );
    expect(grid(out, 3)).toEqual(['111', '121', '111']);
  });
  it('degenerate input paints nothing', () => {
    expect(
      fill(
        [
          [
            [0, 0],
            [3, 3],
          ],
        ],
        3,
        3,
      ),
    ).toEqual(['000', '000', '000']);
    expect(
      fill(
        [
          [
            [0, 1],
            [3, 1],
            [1.5, 1],
          ],
        ],
        3,
        3,
      ),
    ).toEqual(['000', '000', '000']);
  });
});

describe('reviewer spans', () => {
  const labels = ['scratch', 'dent'];
  it('Prodigy polygon spans → class indices (1 + label position)', () => {
    const spans = [
      {
        id: 'a',
        label: 'dent',
        color: 'yellow',
        type: 'polygon',
        points: [
          [0, 0],
          [2, 0],
          [2, 1],
          [0, 1],
        ],
      },
      {
        label: 'scratch',
        type: 'rect',
        x: 2,
        y: 1,
        width: 1,
        height: 1,
        points: [
          [2, 1],
          [3, 1],
          [3, 2],
          [2, 2],
        ],
      },
    ];
    const r = readPolygonSpans(spans, labels);
    if (!r.ok) throw new Error(r.reason);
    expect(grid(rasterizeSpans(r.value, 3, 2), 3)).toEqual(['220', '001']);
  });
  it.each([
    [
      [
        {
          label: 'rust',
          points: [
            [0, 0],
            [1, 0],
            [1, 1],
          ],
        },
      ],
      'spans[0].label',
    ],
    [
      [
        {
          label: 'dent',
          points: [
            [0, 0],
            [1, 0],
          ],
        },
      ],
      'spans[0].points',
    ],
    [
      [
        {
          label: 'dent',
          points: [
            [0, 0],
            [1, 0],
            [1, 'x'],
          ],
        },
      ],
      'spans[0].points[2]',
    ],
    [
      [
        {
          label: 'dent',
          points: [
            [0, 0],
            [1, 0],
            [1, Number.NaN],
          ],
        },
      ],
      'spans[0].points[2]',
    ],
    ['nope', 'spans'],
  ])('%j is a reject on %s', (spans, field) => {
    const r = readPolygonSpans(spans, labels);
    expect(r.ok ? null : r.field).toBe(field);
  });
  it('no spans: an empty mask (all background)', () => {
    expect(readPolygonSpans(undefined, labels)).toEqual({ ok: true, value: [] });
  });
});
