/**
 * Command-line inputs → scoring sources: local files, directories (walked
 * recursively, data files only, sorted), globs, `gs://bucket/prefix` URIs
 * and `-` for stdin. The order is the order given, each expansion sorted, so
 * the list (and its hash, which shards compare) is reproducible.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { ReviewloopError } from '../../domain/errors.js';
import type { ObjectStore } from '../store/store.js';
import { isDataObject, type Source } from './sources.js';

/** Options for {@link resolveInputs}. */
export interface ResolveInputsOptions {
  /** GCS API endpoint for `gs://` inputs (emulators). Default: Google. */
  apiEndpoint?: string;
  /** Stream read for `-`. Default `process.stdin`. */
  stdin?: Readable;
  /** Base for relative paths and globs. Default `process.cwd()`. */
  cwd?: string;
}

export interface ResolvedInputs {
  sources: Source[];
  /** Closes the object stores opened for `gs://` inputs. */
  close(): Promise<void>;
}

const GLOB_CHARS = /[*?[\]{}]/;

function usage(message: string): ReviewloopError {
  return new ReviewloopError('INPUT_INVALID', message);
}

function localSource(file: string, size: number, cwd: string): Source {
  const abs = path.resolve(cwd, file);
  return { uri: file, name: file, size, path: abs, open: () => createReadStream(abs, { highWaterMark: 1 << 20 }) };
}

async function expandLocal(spec: string, cwd: string): Promise<Source[]> {
  const abs = path.resolve(cwd, spec);
  const st = await stat(abs).catch(() => null);
  if (st?.isFile()) return [localSource(spec, st.size, cwd)];
  if (st?.isDirectory()) {
    const entries = await readdir(abs, { recursive: true, withFileTypes: true });
    const files = entries
      .filter((e) => e.isFile())
      .map((e) =>
        path
          .relative(abs, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
          .split(path.sep)
          .join('/'),
      )
      .filter((rel) => rel.split('/').every((seg) => !seg.startsWith('.') && !seg.startsWith('_')) && isDataObject(rel))
      .sort();
    const out: Source[] = [];
    for (const rel of files) {
      const file = path.join(spec, rel);
      out.push(localSource(file, (await stat(path.resolve(cwd, file))).size, cwd));
    }
    if (out.length === 0) throw usage(`${spec}: directory holds no data files (.jsonl, .json, .arrow, .parquet, …)`);
    return out;
  }
  if (!GLOB_CHARS.test(spec)) throw new ReviewloopError('NOT_FOUND', `${spec}: no such file or directory`);
  const { glob } = await import('tinyglobby');
  const matches = (await glob(spec, { cwd, onlyFiles: true, dot: false, expandDirectories: false })).sort();
  if (matches.length === 0) throw usage(`${spec}: the pattern matches no files`);
  const out: Source[] = [];
  for (const m of matches) out.push(localSource(m, (await stat(path.resolve(cwd, m))).size, cwd));
  return out;
}

/** `*` within a segment, `**` across segments, `?` one character. */
function globRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function expandGcs(spec: string, stores: Map<string, ObjectStore>, apiEndpoint: string | undefined): Promise<Source[]> {
  // Loaded on first gs:// input: local-only runs start faster.
  const [{ parseGcsUri }, { openStore }] = await Promise.all([import('../store/gcs-store.js'), import('../store/open-store.js')]);
  const { bucket } = parseGcsUri(spec.replace(/^(gs:\/\/[^/]+).*$/, '$1'));
  let store = stores.get(bucket);
  if (store === undefined) {
    store = openStore({ root: `gs://${bucket}`, apiEndpoint: apiEndpoint ?? null });
    stores.set(bucket, store);
  }
  const s = store;
  const rest = spec.slice(`gs://${bucket}`.length).replace(/^\/+/, '');
  const toSource = (name: string, size: number, generation: string): Source => ({
    uri: `gs://${bucket}/${name}`,
    name,
    size,
    open: () => s.readStream(name, { generation }),
  });
  const globAt = rest.search(GLOB_CHARS);
  if (globAt === -1 && rest !== '' && !rest.endsWith('/')) {
    const one = await s.stat(rest);
    if (one !== null) return [toSource(one.name, one.size, one.generation)];
  }
  const prefix = globAt === -1 ? (rest === '' || rest.endsWith('/') ? rest : `${rest}/`) : rest.slice(0, rest.lastIndexOf('/', globAt) + 1);
  const match = globAt === -1 ? null : globRegex(rest);
  const out: Source[] = [];
  for await (const o of s.list(prefix)) {
    if (match ? match.test(o.name) : isDataObject(o.name)) out.push(toSource(o.name, o.size, o.generation));
  }
  out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (out.length === 0) throw usage(`${spec}: no data objects there`);
  return out;
}

/** Expands every input spec into sources; a spec that matches nothing is an error, not silence. */
export async function resolveInputs(specs: string[], options: ResolveInputsOptions = {}): Promise<ResolvedInputs> {
  const cwd = options.cwd ?? process.cwd();
  const stores = new Map<string, ObjectStore>();
  const close = async () => {
    for (const s of stores.values()) await s.close();
  };
  const sources: Source[] = [];
  const seen = new Set<string>();
  try {
    for (const spec of specs) {
      let found: Source[];
      if (spec === '-') {
        const stdin = options.stdin ?? process.stdin;
        found = [{ uri: '-', name: '-', open: () => stdin }];
      } else if (spec.startsWith('gs://')) found = await expandGcs(spec, stores, options.apiEndpoint);
      else found = await expandLocal(spec, cwd);
      for (const s of found) {
        if (seen.has(s.uri)) continue;
        seen.add(s.uri);
        sources.push(s);
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { sources, close };
}
