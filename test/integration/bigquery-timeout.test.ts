/**
 * An unreachable BigQuery endpoint fails within `stats.timeoutMs`, not after
 * a minute of silent retries: one endpoint that accepts connections and never
 * answers (a black hole, the worst case), one that refuses them.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/parse.js';
import { openBigQuerySink } from '../../worker/stats/sinks/bigquery-sink.js';

describe('BigQuery sink time bound', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let port: number;
  beforeAll(async () => {
    server = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a silent endpoint fails with STATS_FAILED naming stats.timeoutMs, within the bound', async () => {
    const started = Date.now();
    const err = await openBigQuerySink({ projectId: 'reviewloop-test', dataset: 'd', apiEndpoint: `http://127.0.0.1:${port}`, timeoutMs: 800 }).then(
      () => null,
      (e: unknown) => e,
    );
    const elapsed = Date.now() - started;
    expect(err).toMatchObject({ code: 'STATS_FAILED', message: expect.stringContaining('stats.timeoutMs') });
    expect(elapsed).toBeGreaterThanOrEqual(750);
    expect(elapsed).toBeLessThan(2500);
  });

  it('a refused connection fails within the bound too', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const started = Date.now();
    await expect(
      openBigQuerySink({ projectId: 'reviewloop-test', dataset: 'd', apiEndpoint: `http://127.0.0.1:${free}`, timeoutMs: 1500 }),
    ).rejects.toMatchObject({ code: 'STATS_FAILED' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('stats.timeoutMs is a config key with a default, bounded', () => {
    const base = { storage: { root: '/tmp/x' }, projects: [{ name: 'p', task: 'textcat', labels: ['a', 'b'], strategy: { name: 'entropy', topK: 1 } }] };
    expect(parseConfig({ ...base, stats: { sink: 'bigquery', projectId: 'my-project', dataset: 'd' } }).stats).toMatchObject({ timeoutMs: 30_000 });
    expect(() => parseConfig({ ...base, stats: { sink: 'bigquery', projectId: 'my-project', dataset: 'd', timeoutMs: 5 } })).toThrow(/stats\.timeoutMs/);
  });
});
