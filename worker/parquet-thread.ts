/**
 * Decodes Parquet in a worker thread. parquet-wasm traps (`RuntimeError:
 * unreachable`) on some corrupt files from inside an async callback, where no
 * caller can catch it: in the main thread that kills the whole process. Here
 * it only ends this thread, and the reader turns that into INPUT_INVALID.
 *
 * Protocol: workerData {path | bytes, columns?, batchRows}; the thread posts
 * {groups, names}, then answers each {group} with {ipc} (Arrow IPC stream bytes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openAsBlob } from 'node:fs';

interface Init { path?: string; bytes?: Uint8Array; exclude: string[]; batchRows: number }

async function main(): Promise<void> {
  const init = workerData as Init;
  const pq = await import('parquet-wasm');
  const blob = init.path !== undefined ? await openAsBlob(init.path) : new Blob([init.bytes!]);
  const file = await pq.ParquetFile.fromFile(blob);
  const { tableFromIPC } = await import('apache-arrow');
  const names = tableFromIPC(file.schema().intoIPCStream()).schema.fields.map((f) => f.name);
  const columns = names.filter((n) => !init.exclude.includes(n));
  parentPort!.postMessage({ groups: file.metadata().numRowGroups(), names });
  parentPort!.on('message', async (msg: { group: number }) => {
    try {
      const table = await file.read({ rowGroups: [msg.group], columns, batchSize: init.batchRows });
      const ipc = table.intoIPCStream();
      parentPort!.postMessage({ ipc }, [ipc.buffer as ArrayBuffer]);
    } catch (err) {
      parentPort!.postMessage({ error: String((err as Error)?.message ?? err) });
    }
  });
}

main().catch((err) => parentPort!.postMessage({ error: String((err as Error)?.message ?? err) }));
