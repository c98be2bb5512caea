import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with one request. */
export type Fault =
  | 'pass'
  /** Forward it, let the upstream apply it, then cut the connection: the client never sees the answer. */
  | 'drop-response'
  /** Answer 503 without forwarding. */
  | 'unavailable'
  /** Answer 429 without forwarding. */
  | 'throttled'
  /** Cut the connection without forwarding or answering. */
  | 'reset'
  /** Hold the request for `stallMs`, then forward it (a slow server or network). */
  | 'stall'
  /** Hold the request for `stallMs`, then cut the connection unforwarded (a hung connection a load balancer kills). */
  | 'stall-reset';

export interface FaultProxy {
  /** `http://127.0.0.1:PORT`, to use as apiEndpoint. */
  endpoint: string;
  /** Requests seen, as `METHOD path?query`. */
  log: string[];
  close(): Promise<void>;
}

/**
 * A tiny HTTP proxy in front of fake-gcs-server that injects faults chosen per
 * request by `decide` (given method and URL), to prove retries never duplicate
 * or clobber. It binds 127.0.0.1 and forwards only to `upstream`.
 */
export async function startFaultProxy(
  upstream: string,
  decide: (method: string, url: string) => Fault,
  options: { stallMs?: number } = {},
): Promise<FaultProxy> {
  const target = new URL(upstream);
  if (target.hostname !== '127.0.0.1') throw new Error('fault proxy forwards to 127.0.0.1 only');
  const log: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    log.push(`${req.method} ${url}`);
    const fault = decide(req.method ?? 'GET', url);
    const forward = (f: Fault) => forwardTo(req, res, url, f);
    if (fault === 'unavailable' || fault === 'throttled') {
      const status = fault === 'unavailable' ? 503 : 429;
      req.resume();
      res.writeHead(status, { 'content-type': 'application/json' }).end(`{"error":{"code":${status},"message":"injected"}}`);
      return;
    }
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault === 'stall' || fault === 'stall-reset') {
      // Paused, so the body waits for the forward instead of being lost.
      req.pause();
      setTimeout(() => (fault === 'stall' ? forward('pass') : req.socket.destroy()), options.stallMs ?? 500);
      return;
    }
    forward(fault);
  });
  const forwardTo = (req: http.IncomingMessage, res: http.ServerResponse, url: string, fault: Fault) => {
    const up = http.request(
      { host: '127.0.0.1', port: Number(target.port), method: req.method, path: url, headers: { ...req.headers, host: target.host } },
      (upRes) => {
        if (fault === 'drop-response') {
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
