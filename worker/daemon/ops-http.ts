/**
 * The daemon's operations endpoints: `/healthz` (the process answers),
 * `/readyz` (config loaded, store and stats sink reachable, every scheduled
 * job making progress; cached briefly so probes never hammer GCS or start a
 * BigQuery job per probe) and `/metrics` (Prometheus text format).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReviewloopError } from '../../domain/errors.js';
import type { Logger } from '../core/log.js';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  /** Resolves when healthy; the error message is reported, and the `details` of a {@link ReadinessFailure}. */
  run: () => Promise<void>;
}

/** A failed readiness check with structured details, reported under `details.<check>` in the body. */
export class ReadinessFailure extends Error {
  constructor(
    message: string,
    readonly details: unknown,
  ) {
    super(message);
    this.name = 'ReadinessFailure';
  }
}

interface Readiness {
  checks: Record<string, string>;
  details: Record<string, unknown>;
}

/** Options for {@link startOpsServer}. */
export interface OpsServerOptions {
  /** TCP port; 0 would pick a random one, so callers skip the server instead when `worker.httpPort` is 0. */
  port: number;
  /** Listen address. Default `0.0.0.0` (containers are probed from outside). */
  host?: string;
  registry: Registry;
  checks: ReadinessCheck[];
  /** False while draining: readiness fails so no new traffic or rollout waits on us. */
  accepting: () => boolean;
  logger: Logger;
  /** How long a readiness result is reused, in ms. Default 10000. */
  readyCacheMs?: number;
  /** Per-check timeout, in ms. Default 5000. */
  checkTimeoutMs?: number;
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const cacheMs = options.readyCacheMs ?? 10_000;
  const timeoutMs = options.checkTimeoutMs ?? 5000;
  let cached: { at: number; body: Readiness } | null = null;
  const readiness = async (): Promise<Readiness> => {
    if (cached && Date.now() - cached.at < cacheMs) return cached.body;
    const body: Readiness = { checks: { config: 'ok' }, details: {} };
    await Promise.all(
      options.checks.map(async (c) => {
        try {
          await withTimeout(c.run(), timeoutMs);
          body.checks[c.name] = 'ok';
        } catch (err) {
          body.checks[c.name] = `error: ${(err as Error).message}`;
          if (err instanceof ReadinessFailure) body.details[c.name] = err.details;
        }
      }),
    );
    cached = { at: Date.now(), body };
    return body;
  };

  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (url === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (url === '/readyz') {
      if (!options.accepting()) return send(503, 'application/json', `${JSON.stringify({ ready: false, reason: 'shutting down' })}\n`);
      readiness().then(
        ({ checks, details }) => {
          const ready = Object.values(checks).every((v) => v === 'ok');
          const body = Object.keys(details).length > 0 ? { ready, checks, details } : { ready, checks };
          send(ready ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
        },
        (err: unknown) => send(500, 'text/plain', `${(err as Error).message}\n`),
      );
      return;
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (text) => send(200, options.registry.contentType, text),
        (err: unknown) => {
          options.logger.warn(`metrics collection failed: ${(err as Error).message}`);
          send(500, 'text/plain', 'metrics collection failed\n');
        },
      );
      return;
    }
    send(404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
  });
  // Probes may keep connections open: never let them hold up shutdown.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ReviewloopError('CONFIG_INVALID', `worker.httpPort ${options.port}: cannot listen (${err.code ?? err.message})`, { cause: err }));
    });
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info(`ops endpoints on :${port} (/healthz, /readyz, /metrics)`);
  let closing: Promise<void> | null = null;
  return {
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
