/**
 * Decodes Parquet in a worker thread. parquet-wasm traps (`RuntimeError:
 * unreachable`) on some corrupt files from inside an async callback, where no
 * caller can catch it: in the main thread that kills the whole process. Here
 * it only ends this thread, and the reader turns that into INPUT_INVALID.
 *
 * One thread serves one object after another (columnar-source.ts keeps it):
 * a thread and its wasm instance per object cost ~60 MB each time, and at
 * 10^7 rows over ten files peak RSS passed 300 MB.
 *
 * Protocol, one reply per request:
 * - {open: {path | bytes}, exclude, batchRows} → {groups, names}
 * - {group} → {length, shared?}: the row group's Arrow IPC stream bytes are the
 *   first `length` bytes of a SharedArrayBuffer, sent with the first group of
 *   each object and whenever it had to grow. The reader consumes a group's
 *   batches before it asks for the next one. A fresh buffer per group would stay allocated on the reading thread
 *   until V8 collects it, which it does only once ~64 MB of them pile up.
 * - any failure → {error}
 */
import { openAsBlob } from 'node:fs';
import { parentPort } from 'node:worker_threads';

/** What to read: a local file, or a remote object's bytes. */
export interface ParquetOpen {
  path?: string;
  bytes?: Uint8Array;
  exclude: string[];
  batchRows: number;
}

type ParquetFile = Awaited<ReturnType<typeof import('parquet-wasm')['ParquetFile']['fromFile']>>;

let current: { file: ParquetFile; columns: string[]; batchRows: number; sent: boolean } | undefined;
let shared: SharedArrayBuffer | undefined;

async function open(o: ParquetOpen): Promise<{ groups: number; names: string[] }> {
  const pq = await import('parquet-wasm');
  current?.file.free();
  current = undefined;
  const blob = o.path !== undefined ? await openAsBlob(o.path) : new Blob([o.bytes!]);
  const file = await pq.ParquetFile.fromFile(blob);
  const { tableFromIPC } = await import('apache-arrow');
  const names = tableFromIPC(file.schema().intoIPCStream()).schema.fields.map((f) => f.name);
  current = { file, columns: names.filter((n) => !o.exclude.includes(n)), batchRows: o.batchRows, sent: false };
  return { groups: file.metadata().numRowGroups(), names };
}

async function group(g: number): Promise<{ length: number; shared?: SharedArrayBuffer }> {
  if (current === undefined) throw new Error('no Parquet object is open');
  const table = await current.file.read({ rowGroups: [g], columns: current.columns, batchSize: current.batchRows });
  const ipc = table.intoIPCStream();
  const grow = shared === undefined || shared.byteLength < ipc.length;
  if (grow) shared = new SharedArrayBuffer(Math.ceil(ipc.length * 1.25));
  new Uint8Array(shared!).set(ipc);
  const send = grow || !current.sent;
  current.sent = true;
  return { length: ipc.length, ...(send ? { shared } : {}) };
}

parentPort!.on('message', (msg: { open?: ParquetOpen; group?: number }) => {
  const work = msg.open !== undefined ? open(msg.open) : group(msg.group!);
  work.then(
    (reply) => parentPort!.postMessage(reply),
    (err) => parentPort!.postMessage({ error: String((err as Error)?.message ?? err) }),
  );
});
