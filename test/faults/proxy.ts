import { createHash } from 'node:crypto';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
} from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/**
 * Fault proxies written for the fault suite (node:net and node:http only).
 *
 * `TcpFaultProxy` sits between a client and a TCP server (Redis, s3rver, a platform fake) and can,
 * while it runs: delay every chunk in both directions (`setLatency`), reset every open connection
 * (`resetAll`, a TCP RST on both sides) or a share of them mid-response (`resetMidResponse`), and hold all traffic for N milliseconds (`blackhole`: bytes
 * are kept, as TCP retransmission would across a partition, and delivered in order when it ends;
 * new connections are accepted but see nothing until then).
 *
 * `HttpFaultLayer` is an HTTP-aware hop in front of one (for S3 and the platforms): it sees each
 * request (method, path, query, a hash of the body), can answer it itself with an injected status
 * (503 SlowDown, 500, 429), and can run a hook before forwarding or after the upstream answered —
 * the kill tests use that to SIGKILL the worker at the k-th request, before the server saw it or
 * after the server acted on it but before the worker learned so.
 */

interface Lane {
  push(chunk: Buffer): void;
  pump(): void;
}

export class TcpFaultProxy {
  latencyMs = 0;
  /** Counters for the figures. */
  readonly stats = { connections: 0, resets: 0, blackholes: 0, clientChunks: 0 };
  /** Called for every chunk a client sends (before latency); the kill tests count commands with it. */
  onClientChunk: ((chunk: Buffer) => void) | undefined;
  /** Chance that a chunk from the server resets its connection instead of being delivered. */
  private resetChance = 0;
  private random: () => number = Math.random;
  private holdUntil = 0;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private readonly lanes = new Set<Lane>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpFaultProxy> {
    let proxy: TcpFaultProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new TcpFaultProxy(server, (server.address() as AddressInfo).port);
    return proxy;
  }

  get holding(): boolean {
    return Date.now() < this.holdUntil;
  }

  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** Resets every open connection (RST to both ends); clients reconnect through the proxy. */
  resetAll(): number {
    let n = 0;
    for (const pair of this.pairs) {
      pair.client.resetAndDestroy();
      pair.upstream.resetAndDestroy();
      n++;
    }
    this.pairs.clear();
    this.stats.resets += n;
    return n;
  }

  /** From now on each chunk a server sends resets its connection with this chance (0 stops it). */
  resetMidResponse(chance: number, random: () => number): void {
    this.resetChance = chance;
    this.random = random;
  }

  /** Holds all traffic (existing and new connections) for `ms`, then delivers it in order. */
  async blackhole(ms: number): Promise<void> {
    this.stats.blackholes++;
    this.holdUntil = Date.now() + ms;
    await new Promise((r) => setTimeout(r, ms));
    this.holdUntil = 0;
    for (const lane of this.lanes) lane.pump();
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const upstream = tcpConnect(target.port, target.host);
    upstream.setNoDelay(true);
    const pair = { client, upstream };
    this.pairs.add(pair);
    const up = this.lane(upstream);
    const down = this.lane(client);
    const end = () => {
      this.pairs.delete(pair);
      this.lanes.delete(up);
      this.lanes.delete(down);
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      this.stats.clientChunks++;
      this.onClientChunk?.(chunk);
      up.push(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.resetChance > 0 && this.random() < this.resetChance) {
        this.stats.resets++;
        this.pairs.delete(pair);
        client.resetAndDestroy();
        upstream.resetAndDestroy();
        return;
      }
      down.push(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  /** In-order delivery to `to`, each chunk no earlier than latency after it arrived, none while held. */
  private lane(to: Socket): Lane {
    const queue: { chunk: Buffer; due: number }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const pump = () => {
      timer = undefined;
      if (this.holding) return; // blackhole() pumps every lane when it ends
      while (queue.length > 0 && queue[0]!.due <= Date.now()) {
        if (!to.destroyed) to.write(queue.shift()!.chunk);
        else queue.shift();
      }
      if (queue.length > 0) timer = setTimeout(pump, Math.max(0, queue[0]!.due - Date.now()));
    };
    const lane: Lane = {
      push: (chunk) => {
        queue.push({ chunk, due: Date.now() + this.latencyMs });
        if (!timer) pump();
      },
      pump,
    };
    this.lanes.add(lane);
    return lane;
  }
}

export interface HttpCall {
  /** 1-based, counted since the layer started or since `resetCount()`. */
  n: number;
  method: string;
  path: string;
  query: URLSearchParams;
  /** sha256 of the request body (empty body: hash of nothing). */
  bodyHash: string;
  body: Buffer;
}

export interface Injected {
  status: number;
  body?: string;
  headers?: Record<string, string>;
}

export interface HttpHooks {
  /** Answer the request without forwarding it (an injected error), or forward it (undefined). */
  inject?: (call: HttpCall) => Injected | undefined;
  /** Before forwarding: return 'drop' to destroy the connection without forwarding. */
  before?: (call: HttpCall) => 'drop' | undefined;
  /** After the upstream answered, before the client gets it: 'drop' destroys the connection instead. */
  after?: (call: HttpCall, status: number) => 'drop' | undefined;
}

export interface AnsweredCall {
  method: string;
  path: string;
  bodyHash: string;
  body: Buffer;
  /** What the server answered (0: not forwarded, or no answer); the client may not have got it. */
  status: number;
  injected: boolean;
  /** The client's connection was reset instead of getting the answer. */
  dropped: boolean;
}

export class HttpFaultLayer {
  hooks: HttpHooks = {};
  /** Every request seen, with the status the client got (0: dropped). */
  readonly calls: AnsweredCall[] = [];
  readonly stats = { requests: 0, injected: 0, dropped: 0 };
  private count = 0;

  private constructor(
    private readonly server: ReturnType<typeof createHttpServer>,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<HttpFaultLayer> {
    const upstream = new URL(target);
    let layer: HttpFaultLayer | undefined;
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', () => res.destroy());
      req.on('end', () => {
        if (!layer) return res.destroy();
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? '/', 'http://layer');
        const call: HttpCall = {
          n: ++layer.count,
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          bodyHash: createHash('sha256').update(body).digest('hex'),
          body,
        };
        layer.stats.requests++;
        const record = (status: number, injected: boolean, dropped = false) =>
          layer?.calls.push({
            method: call.method,
            path: call.path,
            bodyHash: call.bodyHash,
            body: call.body,
            status,
            injected,
            dropped,
          });
        const injected = layer.hooks.inject?.(call);
        if (injected) {
          layer.stats.injected++;
          record(injected.status, true);
          res.writeHead(injected.status, {
            ...(injected.body ? { 'content-length': String(Buffer.byteLength(injected.body)) } : {}),
            ...injected.headers,
          });
          res.end(req.method === 'HEAD' ? undefined : injected.body);
          return;
        }
        if (layer.hooks.before?.(call) === 'drop') {
          layer.stats.dropped++;
          record(0, false, true);
          res.socket?.resetAndDestroy();
          return;
        }
        const headers: IncomingHttpHeaders = { ...req.headers, host: upstream.host };
        const forward = httpRequest(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            headers,
            agent: false,
          },
          (answer) => {
            const parts: Buffer[] = [];
            answer.on('data', (c: Buffer) => parts.push(c));
            answer.on('error', () => res.destroy());
            answer.on('end', () => {
              const status = answer.statusCode ?? 502;
              if (layer?.hooks.after?.(call, status) === 'drop') {
                layer.stats.dropped++;
                record(status, false, true);
                res.socket?.resetAndDestroy();
                return;
              }
              record(status, false);
              const out = { ...answer.headers };
              delete out['transfer-encoding'];
              const payload = Buffer.concat(parts);
              if (req.method !== 'HEAD') out['content-length'] = String(payload.length);
              res.writeHead(status, out);
              res.end(req.method === 'HEAD' ? undefined : payload);
            });
          },
        );
        forward.on('error', () => {
          record(0, false);
          res.destroy();
        });
        forward.end(body);
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    layer = new HttpFaultLayer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return layer;
  }

  resetCount(): void {
    this.count = 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The S3 error document a throttled or failing S3 answers with. */
export function s3Error(status: 503 | 500): Injected {
  const [code, message] =
    status === 503
      ? ['SlowDown', 'Please reduce your request rate.']
      : ['InternalError', 'We encountered an internal error. Please try again.'];
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault-suite</RequestId></Error>`,
  };
}

/** PUT, GET, LIST, HEAD or DELETE, from an S3 request (path-style). */
export function s3Operation(
  call: Pick<HttpCall, 'method' | 'query'>,
): 'PUT' | 'GET' | 'LIST' | 'HEAD' | 'OTHER' {
  if (call.method === 'PUT') return 'PUT';
  if (call.method === 'HEAD') return 'HEAD';
  if (call.method === 'GET') return call.query.has('list-type') || call.query.has('prefix') ? 'LIST' : 'GET';
  return 'OTHER';
}
