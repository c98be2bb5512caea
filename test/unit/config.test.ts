import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { loadConfig } from '../../worker/core/load-config.js';

const valid = {
  storage: { root: './data' },
  projects: [{ name: 'support-intents', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 200 } }],
};

describe('config', () => {
  it('fills documented defaults', () => {
    const c = parseConfig(valid);
    expect(c.stats).toEqual({ sink: 'duckdb' });
    expect(c.projects[0]).toMatchObject({
      predictions: { prefix: 'predictions/', format: 'auto' },
      strategy: { auditFraction: 0, seed: 0, maxRejectRatio: 0.5 },
      merge: { conflict: 'latest' },
    });
    expect(c.worker).toMatchObject({ shutdownGraceMs: 25_000, leaseTtlMs: 120_000 });
  });
  it('names the path of every error', () => {
    const bad = structuredClone(valid) as any;
    bad.projects[0].strategy.topK = -1;
    bad.projects[0].strategy.nmae = 'typo';
    bad.projects[0].task = 'sentiment';
    expect(() => parseConfig(bad, 'x.yaml')).toThrowError(/projects\[0\]\.strategy\.topK: .*\n.*|projects\[0\]\.task/);
    try {
      parseConfig(bad, 'x.yaml');
    } catch (err) {
      const msg = (err as Error).message;
      expect(msg).toContain('invalid config x.yaml');
      expect(msg).toContain('projects[0].strategy.topK');
      expect(msg).toContain('projects[0].task');
      expect(msg).toMatch(/projects\[0\]\.strategy.*nmae/);
      expect((err as { code: string }).code).toBe('CONFIG_INVALID');
    }
  });
  it('checks quotas against labels and overlap against annotators', () => {
    const bad = structuredClone(valid) as any;
    bad.projects[0].strategy.quotas = { c: 3 };
    bad.projects[0].queue = { annotators: ['x'], overlap: 2 };
    expect(() => parseConfig(bad)).toThrowError(/projects\[0\]\.strategy\.quotas\.c: unknown label "c"[\s\S]*projects\[0\]\.queue\.overlap/);
  });
  it('refuses a repeated annotator at its own path (it would be queued every item of its share twice)', () => {
    const bad = structuredClone(valid) as any;
    bad.projects[0].queue = { annotators: ['al', 'al', 'bo'], overlap: 1 };
    expect(() => parseConfig(bad)).toThrowError(/projects\[0\]\.queue\.annotators\[1\]: duplicate annotator "al"/);
    try {
      parseConfig(bad);
    } catch (err) {
      expect((err as { code: string }).code).toBe('CONFIG_INVALID');
    }
    bad.projects[0].queue.annotators = ['al', 'bo'];
    expect(parseConfig(bad).projects[0].queue.annotators).toEqual(['al', 'bo']);
  });
  it('refuses labels that object-keyed code cannot hold, and repeated labels, naming each path', () => {
    for (const name of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__']) {
      const bad = structuredClone(valid) as any;
      bad.projects[0].labels = ['a', name];
      expect(() => parseConfig(bad), name).toThrowError(new RegExp(`projects\\[0\\]\\.labels\\[1\\]: "${name}" is a reserved name`));
    }
    const dup = structuredClone(valid) as any;
    dup.projects[0].labels = ['a', 'b', 'a'];
    expect(() => parseConfig(dup)).toThrowError(/projects\[0\]\.labels\[2\]: duplicate label "a"/);
    const ok = structuredClone(valid) as any;
    ok.projects[0].labels = ['Constructor', 'proto', '__init__', 'toString_'];
    expect(parseConfig(ok).projects[0].labels).toHaveLength(4);
  });
  it('exits 78 on a reserved label read from YAML', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rl-config-'));
    const file = path.join(dir, 'reviewloop.yaml');
    writeFileSync(file, 'storage: {root: ./data}\nprojects:\n  - {name: p, task: textcat, labels: [a, constructor], strategy: {name: entropy, topK: 5}}\n');
    await expect(loadConfig(file, {})).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('projects[0].labels[1]') });
  });
  it('loads YAML and resolves a relative root against the config folder', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rl-config-'));
    const file = path.join(dir, 'reviewloop.yaml');
    writeFileSync(file, 'storage: {root: ./data}\nprojects:\n  - {name: p, task: ner, labels: [ORG], strategy: {name: span-min, topK: 5}}\n');
    const c = await loadConfig(file, {});
    expect(c.storage.root).toBe(path.join(dir, 'data'));
    writeFileSync(file, 'storage: [unclosed');
    await expect(loadConfig(file, {})).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining('invalid YAML') });
  });
});

describe('label-issues strategy', () => {
  const project = (over: Record<string, unknown> = {}, strategy: Record<string, unknown> = {}) => ({
    storage: { root: '/tmp/x' },
    stats: { sink: 'none' },
    projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'label-issues', topK: 10, ...strategy }, ...over }],
  });
  it('takes rankBy, left unset for self-confidence', () => {
    expect(parseConfig(project()).projects[0].strategy.rankBy).toBeUndefined();
    expect(parseConfig(project({}, { rankBy: 'normalized-margin' })).projects[0].strategy.rankBy).toBe('normalized-margin');
  });
  it('refuses what confident learning cannot do, naming the path', () => {
    expect(() => parseConfig(project({ task: 'ner' }))).toThrowError(/projects\[0\]\.strategy\.name: label-issues needs one label per item/);
    expect(() => parseConfig(project({ labels: ['a'] }))).toThrowError(/projects\[0\]\.labels: label-issues works with 2 to 255 labels/);
    expect(() => parseConfig(project({}, { auditFraction: 0.1 }))).toThrowError(
      /projects\[0\]\.strategy\.auditFraction: label-issues queues only flagged items/,
    );
    expect(() => parseConfig(project({}, { quotas: { a: 1 } }))).toThrowError(/projects\[0\]\.strategy\.quotas: not used by label-issues/);
    expect(() => parseConfig(project({}, { rankBy: 'entropy' }))).toThrowError(/projects\[0\]\.strategy\.rankBy/);
  });
  it('rankBy belongs to label-issues only', () => {
    expect(() => parseConfig(project({}, { name: 'entropy', rankBy: 'self-confidence' }))).toThrowError(
      /projects\[0\]\.strategy\.rankBy: only used by label-issues/,
    );
  });
});
