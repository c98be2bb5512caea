import { statSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../config/schema.js';
import { ReviewloopError } from '../../domain/errors.js';
import { GcsStore, type GcsStoreOptions } from './gcs-store.js';
import { LocalStore, type LocalStoreOptions } from './local-store.js';
import { validateObjectName, type ListOptions, type ObjectInfo, type ObjectStore, type ReadRange, type WriteOptions } from './store.js';

/** Options for {@link openStore}. */
export interface OpenStoreOptions {
  /** Extra options for a `gs://` root (client, retry tuning, `onRetry` metrics hook). */
  gcs?: Omit<GcsStoreOptions, 'apiEndpoint' | 'projectId'>;
  /** Extra options for a local root. */
  local?: LocalStoreOptions;
  /** Base for a relative directory root. Default `process.cwd()`. */
  cwd?: string;
}

/**
 * Opens the store for `storage.root`: `gs://bucket/prefix` → {@link GcsStore}
 * (with `apiEndpoint`/`projectId` from the config), `file:///abs/path` or a
 * directory path → {@link LocalStore}. Any other scheme is CONFIG_INVALID.
 */
export function openStore(storage: Config['storage'] | string, options: OpenStoreOptions = {}): ObjectStore {
  const cfg = typeof storage === 'string' ? { root: storage } : storage;
  const root = cfg.root.trim();
  if (root.startsWith('gs://')) {
    return new GcsStore(root, { ...options.gcs, apiEndpoint: cfg.apiEndpoint ?? undefined, projectId: cfg.projectId });
  }
  if (root.startsWith('file://')) {
    let dir: string;
    try {
      dir = fileURLToPath(root);
    } catch (err) {
      throw new ReviewloopError('CONFIG_INVALID', `storage.root ${JSON.stringify(root)} is not a valid file:// URL`, { cause: err });
    }
    return new LocalStore(dir, options.local);
  }
  // A Windows drive letter is a path, not a scheme.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(root)) {
    throw new ReviewloopError('CONFIG_INVALID', `storage.root ${JSON.stringify(root)}: use a directory, file:///path or gs://bucket/prefix`);
  }
  return new LocalStore(path.resolve(options.cwd ?? process.cwd(), root), options.local);
}

/**
 * The view of one project: every name is put under `<project>/` of the
 * underlying store, so a project's data lives at `ROOT/<project>/predictions/…`,
 * `ROOT/<project>/rounds/R/…`. Names handed back (list, stat) are relative to
 * the project again.
 */
export function projectStore(store: ObjectStore, project: string): ObjectStore {
  return new PrefixedStore(store, project);
}

/** An {@link ObjectStore} that maps `name` to `prefix/name` on an inner store. */
export class PrefixedStore implements ObjectStore {
  readonly root: string;
  private readonly prefix: string;

  constructor(
    private readonly inner: ObjectStore,
    prefix: string,
  ) {
    const clean = prefix.replace(/^\/+|\/+$/g, '');
    validateObjectName(clean);
    this.prefix = `${clean}/`;
    this.root = `${inner.root.replace(/\/+$/, '')}/${clean}`;
  }

  uri(name: string): string {
    return this.inner.uri(this.full(name));
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const startOffset = options.startOffset === undefined ? undefined : this.prefix + options.startOffset;
    for await (const o of this.inner.list(this.prefix + prefix, { ...options, startOffset })) yield this.strip(o);
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    const o = await this.inner.stat(this.full(name));
    return o && this.strip(o);
  }

  read(name: string, options?: { generation?: string }): Promise<Buffer> {
    return this.inner.read(this.full(name), options);
  }

  readStream(name: string, options?: { range?: ReadRange; generation?: string }): Readable {
    return this.inner.readStream(this.full(name), options);
  }

  get localPath(): ((name: string) => string) | undefined {
    const inner = this.inner;
    return inner.localPath === undefined ? undefined : (name: string) => inner.localPath!(this.full(name));
  }

  async write(name: string, data: Buffer | string, options?: WriteOptions): Promise<ObjectInfo> {
    return this.strip(await this.inner.write(this.full(name), data, options));
  }

  async writeStream(name: string, body: Readable, options?: WriteOptions): Promise<ObjectInfo> {
    return this.strip(await this.inner.writeStream(this.full(name), body, options));
  }

  delete(name: string, options?: { ifGenerationMatch?: string }): Promise<void> {
    return this.inner.delete(this.full(name), options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private full(name: string): string {
    // Validate the relative name itself: "../other-project/x" must not pass once prefixed.
    return this.prefix + validateObjectName(name);
  }

  private strip(o: ObjectInfo): ObjectInfo {
    return { ...o, name: o.name.startsWith(this.prefix) ? o.name.slice(this.prefix.length) : o.name };
  }
}

/**
 * `GOOGLE_APPLICATION_CREDENTIALS` naming a file that is not there is a
 * configuration error naming the path; left alone, google-auth reports it
 * much later, from inside the first request, as an internal failure.
 */
export function checkCredentialsFile(env: NodeJS.ProcessEnv = process.env): void {
  const file = env.GOOGLE_APPLICATION_CREDENTIALS;
  if (file === undefined || file === '') return;
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    // missing or unreadable: reported below
  }
  if (!isFile)
    throw new ReviewloopError('CONFIG_INVALID', `GOOGLE_APPLICATION_CREDENTIALS=${file}: no such file (a service account key or ADC file is expected there)`, {
      details: { path: file },
    });
}
