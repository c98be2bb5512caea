import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { ReviewloopError, errnoOf, fsError } from '../../domain/errors.js';
import {
  alreadyExists,
  conflict,
  notFound,
  validateObjectName,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type ReadRange,
  type WriteOptions,
} from './store.js';

/** The one hidden folder under the root: temp files, per-object locks and metadata sidecars. Never listed. */
export const LOCAL_HIDDEN_DIR = '.reviewloop-tmp';

/** Options for {@link LocalStore}. */
export interface LocalStoreOptions {
  /**
   * A lock file older than this is taken over, in ms. Locks are held only
   * for the final rename (bodies are written before locking), so a lock this
   * old belongs to a crashed process. Default 30000.
   */
  staleLockMs?: number;
  /** How long a writer waits for a busy lock before failing with CONFLICT (retryable), in ms. Default staleLockMs + 5000. */
  lockWaitMs?: number;
}

interface Sidecar {
  contentType?: string;
  metadata?: Record<string, string>;
}

/**
 * An {@link ObjectStore} over a directory, safe across processes:
 * - bodies go to a temp file under `.reviewloop-tmp/`, are fsynced, then
 *   published with `link` (create-only: EEXIST ⇒ ALREADY_EXISTS) or `rename`;
 * - a generation is the file's mtime in ns; guarded replaces, unguarded
 *   replaces and guarded deletes run under an O_EXCL lock file per object,
 *   which also lets a replace bump the mtime so generations only grow;
 * - contentType/metadata live in a sidecar keyed by (name, generation), so a
 *   sidecar left by a crash or a lost race never attaches to another version.
 * A name cannot be both an object and a "folder" (`a/b` and `a/b/c`), unlike GCS.
 */
export class LocalStore implements ObjectStore {
  readonly root: string;
  private readonly staleLockMs: number;
  private readonly lockWaitMs: number;

  constructor(root: string, options: LocalStoreOptions = {}) {
    this.root = path.resolve(root);
    this.staleLockMs = options.staleLockMs ?? 30_000;
    // Waiters outlast a stale lock, so a writer killed while holding one delays others, never fails them.
    this.lockWaitMs = options.lockWaitMs ?? this.staleLockMs + 5_000;
  }

  uri(name: string): string {
    return pathToFileURL(this.pathOf(name)).href;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    if (prefix !== '') validateObjectName(prefix.replace(/\/+$/, '') || 'x');
    const start = options.startOffset ?? '';
    const slash = prefix.lastIndexOf('/');
    const dirName = slash < 0 ? '' : prefix.slice(0, slash);
    try {
      yield* this.walk(dirName, prefix, start);
    } catch (err) {
      throw await this.typed(prefix, err);
    }
  }

  async stat(name: string): Promise<ObjectInfo | null> {
    const p = this.pathOf(name);
    return this.guard(name, async () => {
      try {
        const st = await fs.stat(p, { bigint: true });
        if (!st.isFile()) return null;
        return await this.info(name, st);
      } catch (err) {
        if (isMissing(err)) return null;
        throw mapFsError(name, err);
      }
    });
  }

  async read(name: string, options: { generation?: string } = {}): Promise<Buffer> {
    return this.guard(name, async () => {
      const fh = await this.openVersion(name, options.generation);
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    });
  }

  localPath(name: string): string {
    return this.pathOf(name);
  }

  readStream(name: string, options: { range?: ReadRange; generation?: string } = {}): Readable {
    const out = new PassThrough();
    // Opening first pins the inode, so the generation check and the bytes refer to one version.
    const fail = (err: unknown) => {
      void this.typed(name, err).then((e) => out.destroy(e));
    };
    this.openVersion(name, options.generation).then((fh) => {
      const { start, end } = options.range ?? { start: 0 };
      const src = createReadStream('', { fd: fh, start, end, autoClose: true });
      pipeline(src, out).catch(fail);
    }, fail);
    return out;
  }

  async write(name: string, data: Buffer | string, options: WriteOptions = {}): Promise<ObjectInfo> {
    const p = this.pathOf(name);
    return this.guard(name, async () => {
      const tmp = await this.tempFile();
      try {
        await fs.writeFile(tmp, data, { flag: 'wx' });
        return await this.publish(name, p, tmp, options);
      } finally {
        await fs.rm(tmp, { force: true });
      }
    });
  }

  async writeStream(name: string, body: Readable, options: WriteOptions = {}): Promise<ObjectInfo> {
    const p = this.pathOf(name);
    return this.guard(name, async () => {
      const tmp = await this.tempFile();
      try {
        await pipeline(body, createWriteStream(tmp, { flags: 'wx' }));
        return await this.publish(name, p, tmp, options);
      } finally {
        await fs.rm(tmp, { force: true });
      }
    });
  }

  async delete(name: string, options: { ifGenerationMatch?: string } = {}): Promise<void> {
    const p = this.pathOf(name);
    await this.guard(name, () => this.deleteAt(name, p, options));
  }

  private async deleteAt(name: string, p: string, options: { ifGenerationMatch?: string }): Promise<void> {
    await this.withLock(name, async () => {
      const st = await statOrNull(p);
      if (!st) throw notFound(name);
      const gen = st.mtimeNs.toString();
      if (options.ifGenerationMatch !== undefined && options.ifGenerationMatch !== gen) throw conflict(name, options.ifGenerationMatch);
      await fs.unlink(p);
      await fs.rm(this.sidecarPath(name, gen), { force: true });
    });
    await this.pruneEmptyDirs(path.dirname(p));
  }

  async close(): Promise<void> {}

  /** Runs one store call so that every failure leaves it typed (see {@link typed}). */
  private async guard<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw await this.typed(name, err);
    }
  }

  /**
   * A failure as a ReviewloopError: a root that is a file (or under one) is a
   * configuration error naming `storage.root`, whatever call found it;
   * errno failures (EROFS, ENOSPC, EACCES, ENAMETOOLONG…) get their codes
   * (errors.ts fsError); typed errors pass through.
   */
  private async typed(name: string, err: unknown): Promise<Error> {
    const rootError = await this.rootProblem(err);
    if (rootError) return rootError;
    if (err instanceof ReviewloopError) return err;
    return mapFsError(name, err, path.join(this.root, name));
  }

  /** Set once the root is seen to be a directory, so later failures skip the check (a stat each). */
  private rootIsDir = false;

  private async rootProblem(err: unknown): Promise<ReviewloopError | null> {
    if (this.rootIsDir) return null;
    try {
      const st = await fs.stat(this.root);
      if (st.isDirectory()) {
        this.rootIsDir = true;
        return null;
      }
      return new ReviewloopError('CONFIG_INVALID', `storage.root ${this.root} is a file, not a directory`, { cause: err, details: { root: this.root } });
    } catch (statErr) {
      const code = errnoOf(statErr);
      if (code === 'ENOTDIR')
        return new ReviewloopError('CONFIG_INVALID', `storage.root ${this.root}: a part of the path is a file, not a directory`, {
          cause: err,
          details: { root: this.root },
        });
      if (code === 'ENAMETOOLONG')
        return new ReviewloopError('CONFIG_INVALID', `storage.root ${this.root}: path too long for the file system`, {
          cause: err,
          details: { root: this.root },
        });
      // A missing root is created by the first write; anything else is the original failure's business.
      return null;
    }
  }

  /** Maps a name to a path under the root; rejects escapes and the hidden folder. */
  private pathOf(name: string): string {
    validateObjectName(name);
    const segs = name.split('/');
    if (segs.some((s) => s === ''))
      throw new ReviewloopError('PATH_INVALID', `invalid object name ${JSON.stringify(name)}: empty path segment`, { details: { name } });
    if (segs[0] === LOCAL_HIDDEN_DIR)
      throw new ReviewloopError('PATH_INVALID', `invalid object name ${JSON.stringify(name)}: ${LOCAL_HIDDEN_DIR} is reserved`, { details: { name } });
    const p = path.resolve(this.root, ...segs);
    // Belt and braces behind validateObjectName: nothing may resolve outside the root.
    if (!p.startsWith(this.root + path.sep))
      throw new ReviewloopError('PATH_INVALID', `object name ${JSON.stringify(name)} escapes the root`, { details: { name } });
    return p;
  }

  private async publish(name: string, finalPath: string, tmp: string, options: WriteOptions): Promise<ObjectInfo> {
    const sidecar: Sidecar | null = options.contentType || options.metadata ? { contentType: options.contentType, metadata: options.metadata } : null;
    await fsyncFile(tmp);
    await fs.mkdir(path.dirname(finalPath), { recursive: true }).catch((err: unknown) => {
      throw mapFsError(name, err);
    });
    if (options.ifGenerationMatch === '0') {
      const gen = (await fs.stat(tmp, { bigint: true })).mtimeNs.toString();
      if (sidecar) await this.writeSidecar(name, gen, sidecar);
      try {
        // link() fails with EEXIST atomically, across processes; rename() would clobber.
        await retryOnPrunedDir(finalPath, () => fs.link(tmp, finalPath));
      } catch (err) {
        if (sidecar) await fs.rm(this.sidecarPath(name, gen), { force: true });
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(name, err);
        throw mapFsError(name, err);
      }
      await fsyncDir(path.dirname(finalPath));
      return this.info(name, await fs.stat(finalPath, { bigint: true }));
    }
    return this.withLock(name, async () => {
      const old = await statOrNull(finalPath);
      if (old && !old.isFile()) throw new ReviewloopError('PATH_INVALID', `object name ${name} is a folder here`, { details: { name } });
      const oldGen = old?.mtimeNs.toString();
      if (options.ifGenerationMatch !== undefined && options.ifGenerationMatch !== oldGen) throw conflict(name, options.ifGenerationMatch);
      const gen = await bumpPast(tmp, old?.mtimeNs);
      if (sidecar) await this.writeSidecar(name, gen, sidecar);
      await retryOnPrunedDir(finalPath, () => fs.rename(tmp, finalPath));
      await fsyncDir(path.dirname(finalPath));
      if (oldGen !== undefined) await fs.rm(this.sidecarPath(name, oldGen), { force: true });
      return this.info(name, await fs.stat(finalPath, { bigint: true }));
    });
  }

  private async openVersion(name: string, generation?: string): Promise<fs.FileHandle> {
    const p = this.pathOf(name);
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(p, 'r');
    } catch (err) {
      throw isMissing(err) ? notFound(name, err) : mapFsError(name, err);
    }
    const st = await fh.stat({ bigint: true });
    if (!st.isFile() || (generation !== undefined && st.mtimeNs.toString() !== generation)) {
      await fh.close();
      throw notFound(generation === undefined ? name : `${name}#${generation}`);
    }
    return fh;
  }

  private async *walk(rel: string, prefix: string, start: string): AsyncIterable<ObjectInfo> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(rel === '' ? this.root : path.join(this.root, ...rel.split('/')), { withFileTypes: true });
    } catch (err) {
      // A root that is a file is not an empty store: say so (typed() names storage.root).
      if (rel === '' && (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw err;
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    // A folder sorts as "name/" so a depth-first walk yields names in GCS (UTF-8 byte) order.
    const keyed = entries
      .filter((e) => !(rel === '' && e.name === LOCAL_HIDDEN_DIR) && (e.isFile() || e.isDirectory()))
      .map((e) => ({ e, full: rel === '' ? e.name : `${rel}/${e.name}`, key: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    for (const { e, full } of keyed) {
      if (e.isDirectory()) {
        const sub = `${full}/`;
        if (!(sub.startsWith(prefix) || prefix.startsWith(sub))) continue;
        if (byteCmp(sub, start) < 0 && !start.startsWith(sub)) continue;
        yield* this.walk(full, prefix, start);
      } else {
        if (!full.startsWith(prefix) || byteCmp(full, start) < 0) continue;
        const st = await statOrNull(path.join(this.root, ...full.split('/')));
        if (st?.isFile()) yield await this.info(full, st);
      }
    }
  }

  private async info(name: string, st: import('node:fs').BigIntStats): Promise<ObjectInfo> {
    const generation = st.mtimeNs.toString();
    const out: ObjectInfo = { name, generation, size: Number(st.size), updated: new Date(Number(st.mtimeMs)).toISOString() };
    const side = await fs.readFile(this.sidecarPath(name, generation), 'utf8').catch(() => null);
    if (side) {
      const parsed = JSON.parse(side) as Sidecar;
      if (parsed.contentType) out.contentType = parsed.contentType;
      if (parsed.metadata) out.metadata = parsed.metadata;
    }
    return out;
  }

  private sidecarPath(name: string, generation: string): string {
    const h = createHash('sha256').update(name).digest('hex').slice(0, 32);
    return path.join(this.root, LOCAL_HIDDEN_DIR, 'meta', `${h}-${generation}.json`);
  }

  private async writeSidecar(name: string, generation: string, sidecar: Sidecar): Promise<void> {
    const target = this.sidecarPath(name, generation);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const tmp = await this.tempFile();
    await fs.writeFile(tmp, JSON.stringify({ name, ...sidecar }), { flag: 'wx' });
    await fsyncFile(tmp);
    await fs.rename(tmp, target);
  }

  private async tempFile(): Promise<string> {
    const dir = path.join(this.root, LOCAL_HIDDEN_DIR, 'tmp');
    await fs.mkdir(dir, { recursive: true });
    return path.join(dir, `${process.pid}-${randomBytes(8).toString('hex')}.tmp`);
  }

  /**
   * Runs `fn` holding an O_EXCL lock file for `name`. A lock older than
   * `staleLockMs` is moved aside (rename is atomic: one taker wins) and the
   * taker re-checks that it moved the stale inode, not a fresh lock.
   */
  private async withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const dir = path.join(this.root, LOCAL_HIDDEN_DIR, 'locks');
    await fs.mkdir(dir, { recursive: true });
    const lock = path.join(dir, `${createHash('sha256').update(name).digest('hex').slice(0, 40)}.lock`);
    const deadline = Date.now() + this.lockWaitMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
      try {
        await fs.writeFile(lock, `${process.pid} ${new Date().toISOString()}\n`, { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      await this.breakIfStale(lock);
      if (Date.now() > deadline)
        throw new ReviewloopError('TRANSIENT', `object ${name} is locked by another writer`, { retryable: true, details: { name, lock } });
      await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
    }
    try {
      return await fn();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  private async breakIfStale(lock: string): Promise<void> {
    const st = await statOrNull(lock);
    if (!st || Date.now() - Number(st.mtimeMs) < this.staleLockMs) return;
    const aside = `${lock}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await fs.rename(lock, aside);
    } catch {
      return;
    }
    const moved = await statOrNull(aside);
    if (moved && moved.ino !== st.ino) {
      // We moved a fresh lock someone took meanwhile: put it back (link fails if yet another exists).
      await fs.link(aside, lock).catch(() => undefined);
    }
    await fs.rm(aside, { force: true });
  }

  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await fs.rmdir(dir);
      } catch {
        return;
      }
      dir = path.dirname(dir);
    }
  }
}

/** Sets the file's mtime past `prev` (ns) so a replace always gets a larger generation. */
async function bumpPast(file: string, prev: bigint | undefined): Promise<string> {
  let st = await fs.stat(file, { bigint: true });
  // utimes takes float seconds (~0.25 µs precision at today's epoch): step in whole ms and re-check.
  for (let step = 1; prev !== undefined && st.mtimeNs <= prev; step++) {
    const target = Number(prev / 1_000_000n + BigInt(step)) / 1000;
    await fs.utimes(file, target, target);
    st = await fs.stat(file, { bigint: true });
  }
  return st.mtimeNs.toString();
}

/** A concurrent delete may remove the (then empty) parent folder between our mkdir and link/rename. */
async function retryOnPrunedDir(finalPath: string, op: () => Promise<void>): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await op();
    } catch (err) {
      if (!isMissing(err) || i >= 3) throw err;
      await fs.mkdir(path.dirname(finalPath), { recursive: true });
    }
  }
}

async function fsyncFile(p: string): Promise<void> {
  const fh = await fs.open(p, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  // Makes the new directory entry durable; some filesystems refuse fsync on a directory, which is harmless.
  const fh = await fs.open(dir, 'r').catch(() => null);
  if (!fh) return;
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

async function statOrNull(p: string): Promise<import('node:fs').BigIntStats | null> {
  try {
    return await fs.stat(p, { bigint: true });
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

function byteCmp(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** `subject`: the file's path, for messages about the file system rather than the object. */
function mapFsError(name: string, err: unknown, subject = name): ReviewloopError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOTDIR' || code === 'EISDIR')
    return new ReviewloopError('PATH_INVALID', `object name ${name} collides with a folder or object of the same path`, { cause: err, details: { name } });
  if (code === 'ENOENT') return notFound(name, err);
  return (
    fsError(err, subject) ??
    new ReviewloopError('STORE_UNAVAILABLE', `local store I/O failed for ${subject}: ${String(err)}`, { cause: err, details: { name } })
  );
}
