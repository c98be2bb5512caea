import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';

const seg = (over: Record<string, unknown> = {}, strategy: Record<string, unknown> = { name: 'mask-mean-uncertainty', topK: 50 }) => ({
  storage: { root: './data' },
  projects: [{ name: 'parts', task: 'image-segmentation', labels: ['scratch', 'dent'], strategy, ...over }],
});

function errorOf(cfg: unknown): string {
  try {
    parseConfig(cfg, 'x.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  return '';
}

describe('image-segmentation config', () => {
  it('reads colours and fills the documented defaults', () => {
    const c = parseConfig(seg({ segmentation: { colors: { scratch: '#ff0000', dent: '#00ff00' } } }));
    expect(c.projects[0].segmentation).toEqual({ colors: { scratch: '#ff0000', dent: '#00ff00' }, maxPoints: 200, lowConfidenceBelow: 0.5 });
  });
  it('the segmentation block is optional (native records need no colours)', () => {
    expect(parseConfig(seg()).projects[0].segmentation).toBeUndefined();
  });
  it.each([
    [
      { segmentation: { colors: { scratch: '#ff0000', dent: '#ff0000' } } },
      /projects\[0\]\.segmentation\.colors\.dent: #ff0000 is already the colour of "scratch"/,
    ],
    [{ segmentation: { colors: { scratch: '#ff0000' } } }, /segmentation\.colors\.dent: label "dent" has no colour/],
    [{ segmentation: { colors: { scratch: '#000000', dent: '#00ff00' } } }, /segmentation\.colors\.scratch: "#000000" is background/],
    [{ segmentation: { colors: { scratch: 'red', dent: '#00ff00' } } }, /segmentation\.colors\.scratch: a colour like "#ff0000"/],
    [{ segmentation: { maxPoints: 3 } }, /segmentation\.maxPoints/],
    [{ queue: { view: 'choice' } }, /queue\.view: image-segmentation is reviewed as polygons/],
    [{ predictions: { format: 'parquet' } }, /predictions\.format: image-segmentation reads JSONL/],
  ])('refuses %j', (over, message) => {
    expect(errorOf(seg(over))).toMatch(message);
  });
  it('strategies and task must agree both ways', () => {
    expect(errorOf(seg({}, { name: 'entropy', topK: 5 }))).toMatch(/strategy\.name: image-segmentation scores masks/);
    const textcat = { storage: { root: './d' }, projects: [{ name: 't', task: 'textcat', labels: ['a'], strategy: { name: 'mask-min-instance', topK: 5 } }] };
    expect(errorOf(textcat)).toMatch(/strategy\.name: mask-min-instance scores segmentation masks/);
    expect(parseConfig(seg({}, { name: 'random', topK: 5 })).projects[0].strategy.name).toBe('random');
  });
  it('a segmentation block on another task is an error, not ignored', () => {
    const textcat = {
      storage: { root: './d' },
      projects: [{ name: 't', task: 'textcat', labels: ['a'], strategy: { name: 'entropy', topK: 5 }, segmentation: { maxPoints: 50 } }],
    };
    expect(errorOf(textcat)).toMatch(/projects\[0\]\.segmentation: only read with task: image-segmentation/);
  });
});
