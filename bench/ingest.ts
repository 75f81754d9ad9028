/**
 * `npm run bench -- ingest [--webhooks N] [--events N] [--batch N] [--redis-url URL]`
 *
 * Measures, against a real Redis and the filesystem store:
 *  - signed single-event Customer.io webhooks accepted per second (HTTP, keep-alive, 64 in flight),
 *  - batched track events accepted per second (HTTP, `{batch: [...]}` bodies, 8 in flight),
 *  - export records written to raw/ per second (buffer → gzip JSONL parts on the filesystem store),
 *  - peak memory of the process.
 * Only successful work counts toward a rate: items the server accepted in a 2xx answer (per item,
 * from the answer's body), records written to raw/. Duplicates, rejected items, non-2xx answers
 * and quarantined records are counted and printed apart.
 * The HTTP client runs in a separate process, so the server's CPU and memory figures are its own. By default
 * a private `redis-server` is started on a spare port (and stopped after), so the run neither
 * pollutes nor measures the shared Redis; `--redis-url` uses an existing one with its own prefix.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { buildApp } from '../src/api/app.js';
import { parseEnv } from '../src/config/env.js';
import { drainBuffers } from '../src/export/drain.js';
import { createLogger } from '../src/log.js';
import { FsObjectStore } from '../src/storage/fs-store.js';
import { peakRssMiB, report, timed } from './_report.js';

const API_KEY = 'bench-key';
const SIGNING_KEY = 'bench-signing-key';

interface ClientResult {
  requests: number;
  items: number;
  seconds: number;
  /** CPU time of the client process: what the load generator itself cost. */
  clientCpuSeconds: number;
  statuses: Record<string, number>;
  /** Items the server accepted in a 2xx answer: the only ones that count toward throughput. */
  accepted: number;
  /** Items answered as duplicates (2xx, not stored again). */
  duplicates: number;
  /** Items rejected inside a 2xx answer. */
  rejected: number;
  /** Requests answered with a non-2xx status, and the items they carried. */
  failedRequests: number;
  failedItems: number;
}

/** What did not count: printed beside every throughput figure. */
function failures(r: ClientResult): string {
  return (
    `${r.accepted.toLocaleString('en-US')} of ${r.items.toLocaleString('en-US')} items accepted; ` +
    `not counted: ${r.duplicates} duplicates, ${r.rejected} rejected in 2xx answers, ` +
    `${r.failedRequests} non-2xx requests (${r.failedItems} items)`
  );
}

/** CPU time spent by each party during one phase, to tell capacity from contention. */
interface PhaseCost {
  /** CPU time of the server's main thread (Linux: /proc/self/task/<pid>/stat), else event-loop busy time. */
  serverCpuSeconds: number;
  serverBusySeconds: number;
  redisCpuSeconds: number;
  processCpuSeconds: number;
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const value = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return value('used_cpu_user') + value('used_cpu_sys');
}

/** CPU seconds of this process's main thread; `undefined` where /proc is not available. */
function mainThreadCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

async function measured<T>(redis: Redis, fn: () => Promise<T>): Promise<{ result: T; cost: PhaseCost }> {
  const threadBefore = mainThreadCpuSeconds();
  const elu = performance.eventLoopUtilization();
  const cpu = process.cpuUsage();
  const redisBefore = await redisCpuSeconds(redis);
  const result = await fn();
  const busy = performance.eventLoopUtilization(elu);
  const used = process.cpuUsage(cpu);
  const threadAfter = mainThreadCpuSeconds();
  return {
    result,
    cost: {
      serverCpuSeconds:
        threadBefore !== undefined && threadAfter !== undefined
          ? threadAfter - threadBefore
          : busy.active / 1000,
      serverBusySeconds: busy.active / 1000,
      redisCpuSeconds: (await redisCpuSeconds(redis)) - redisBefore,
      processCpuSeconds: (used.user + used.system) / 1e6,
    },
  };
}

function reportCost(label: string, items: number, seconds: number, cost: PhaseCost, clientCpu = 0): void {
  const perSecond = (s: number) => (s > 0 ? items / s : 0);
  process.stdout.write(
    `  ${label}: wall ${seconds.toFixed(2)} s; server main thread CPU ${cost.serverCpuSeconds.toFixed(2)} s ` +
      `(${Math.round(perSecond(cost.serverCpuSeconds)).toLocaleString('en-US')} per CPU-second), ` +
      `redis CPU ${cost.redisCpuSeconds.toFixed(2)} s (${Math.round(perSecond(cost.redisCpuSeconds)).toLocaleString('en-US')} per CPU-second), ` +
      `server process CPU ${cost.processCpuSeconds.toFixed(2)} s, client process CPU ${clientCpu.toFixed(2)} s\n`,
  );
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function startPrivateRedis(): Promise<{ url: string; child: ChildProcess } | null> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  const failed = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(true));
    setTimeout(() => resolve(false), 300);
  });
  if (failed) return null;
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  for (let i = 0; i < 50; i++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill();
  return null;
}

/** The client: builds every body first, then fires them with a fixed number in flight. */
const CLIENT = `
const workerData = JSON.parse(process.argv[1]);
const http = require('node:http');
const { createHmac, randomBytes } = require('node:crypto');
const { url, mode, count, batch, concurrency, apiKey, signingKey } = workerData;
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const bodies = [];
const run = randomBytes(4).toString('hex');
const ts = Math.floor(Date.now() / 1000);
const metrics = ['sent', 'delivered', 'opened', 'clicked'];
if (mode === 'webhooks') {
  for (let i = 0; i < count; i++) {
    const body = JSON.stringify({ event_id: 'bench-' + run + '-' + i, object_type: 'email', metric: metrics[i % 4],
      timestamp: ts - (i % 86400), data: { identifiers: { id: 'c' + (i % 50000), email: null, cio_id: null },
      delivery_id: 'd' + i, campaign_id: 7, action_id: 12, subject: 'Your cart' } });
    const sig = createHmac('sha256', signingKey).update('v0:' + ts + ':' + body).digest('hex');
    bodies.push({ path: '/v1/webhooks/customerio', body, headers: { 'content-type': 'application/json',
      'x-cio-timestamp': String(ts), 'x-cio-signature': sig, 'content-length': Buffer.byteLength(body) } });
  }
} else {
  let n = 0;
  for (let b = 0; b < count / batch; b++) {
    const items = [];
    for (let i = 0; i < batch; i++, n++) items.push({ id: 'bench-' + run + '-' + n, customer_id: 'c' + (n % 50000),
      name: n % 3 ? 'Product Viewed' : 'Checkout Started', timestamp: ts - (n % 86400),
      data: { value: n % 500, currency: 'USD', cart_id: 'cart' + (n % 9000), sku: 'sku-' + (n % 700) } });
    const body = JSON.stringify({ batch: items });
    bodies.push({ path: '/v1/track', body, headers: { 'content-type': 'application/json',
      authorization: 'Bearer ' + apiKey, 'content-length': Buffer.byteLength(body) } });
  }
}
const statuses = {};
// Items the server took (2xx and accepted), and what it did not: duplicates, items it rejected
// inside a 2xx answer, and items of requests answered with another status.
const outcome = { accepted: 0, duplicates: 0, rejected: 0, failedRequests: 0, failedItems: 0 };
let next = 0;
function settle(req, status, text) {
  const items = mode === 'webhooks' ? 1 : batch;
  if (status < 200 || status > 299) {
    outcome.failedRequests++;
    outcome.failedItems += items;
    return;
  }
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  if (mode === 'webhooks') {
    const s = body && body.status;
    if (s === 'accepted') outcome.accepted++;
    else if (s === 'duplicate') outcome.duplicates++;
    else outcome.rejected++;
  } else if (body && typeof body.accepted === 'number') {
    outcome.accepted += body.accepted;
    outcome.duplicates += body.duplicates || 0;
    outcome.rejected += body.rejected || 0;
  } else {
    outcome.rejected += items;
  }
}
function send(req) {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: target.hostname, port: target.port, method: 'POST', path: req.path, headers: req.headers, agent }, (res) => {
      statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => { settle(req, res.statusCode, Buffer.concat(chunks).toString()); resolve(); });
    });
    r.on('error', reject);
    r.end(req.body);
  });
}
async function lane() { while (next < bodies.length) { await send(bodies[next++]); } }
(async () => {
  const start = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  process.stdout.write(JSON.stringify({ requests: bodies.length, items: mode === 'webhooks' ? bodies.length : bodies.length * batch, seconds, clientCpuSeconds: (used.user + used.system) / 1e6, statuses, ...outcome }));
})().catch((e) => { throw e; });
`;

/** The load generator runs in its own process, so the server's CPU and memory figures are its own. */
function runClient(data: Record<string, unknown>): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLIENT, JSON.stringify(data)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(JSON.parse(output) as ClientResult);
      else reject(new Error(`load generator exited with code ${code}`));
    });
  });
}

export async function run(args: string[]): Promise<void> {
  const webhookCount = option(args, 'webhooks', 50_000);
  const eventCount = option(args, 'events', 500_000);
  const batch = option(args, 'batch', 1_000);
  const explicitUrl = args.includes('--redis-url') ? args[args.indexOf('--redis-url') + 1] : undefined;
  const privateRedis = explicitUrl ? null : await startPrivateRedis();
  const redisUrl = explicitUrl ?? privateRedis?.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'audience-sync-bench-'));
  const store = new FsObjectStore(root);
  const env = parseEnv({
    REDIS_URL: redisUrl,
    API_KEYS: API_KEY,
    CIO_WEBHOOK_SIGNING_KEYS: SIGNING_KEY,
    INGEST_MAX_BATCH: String(Math.max(batch, 1000)),
    INGEST_MAX_BODY_BYTES: String(64 * 1024 * 1024),
  });
  const app = await buildApp({ env, store, redisPrefix: prefix, logger: createLogger({ level: 'warn' }) });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const redis = new Redis(redisUrl);
  process.stdout.write(`ingest benchmark: redis ${privateRedis ? 'private' : redisUrl}, store ${root}\n`);
  try {
    const common = { url: address, apiKey: API_KEY, signingKey: SIGNING_KEY };
    // Warm-up: JIT, connections, the script cache.
    await runClient({ ...common, mode: 'webhooks', count: 2_000, batch: 1, concurrency: 32 });
    await runClient({ ...common, mode: 'track', count: 20_000, batch, concurrency: 4 });

    const load = () =>
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${os.cpus().length} cores`;
    process.stdout.write(`before: ${load()}\n`);
    const hooks = await measured(redis, () =>
      runClient({ ...common, mode: 'webhooks', count: webhookCount, batch: 1, concurrency: 64 }),
    );
    report(
      'signed webhooks accepted (one event per request)',
      hooks.result.accepted / hooks.result.seconds,
      'req/s',
    );
    process.stdout.write(`  ${failures(hooks.result)}\n`);
    reportCost(
      'webhooks',
      hooks.result.accepted,
      hooks.result.seconds,
      hooks.cost,
      hooks.result.clientCpuSeconds,
    );
    process.stdout.write(
      `  statuses ${JSON.stringify(hooks.result.statuses)}; peak RSS so far ${Math.round(peakRssMiB())} MiB\n`,
    );

    const tracked = await measured(redis, () =>
      runClient({ ...common, mode: 'track', count: eventCount, batch, concurrency: 8 }),
    );
    report(
      `batched track events accepted (${batch} per request)`,
      tracked.result.accepted / tracked.result.seconds,
      'events/s',
    );
    process.stdout.write(`  ${failures(tracked.result)}\n`);
    reportCost(
      'events',
      tracked.result.accepted,
      tracked.result.seconds,
      tracked.cost,
      tracked.result.clientCpuSeconds,
    );
    process.stdout.write(
      `  statuses ${JSON.stringify(tracked.result.statuses)}; peak RSS so far ${Math.round(peakRssMiB())} MiB\n`,
    );

    const pending = await redis.hgetall(`${prefix}:ingest:pending`);
    const buffered = Object.values(pending).reduce((a, b) => a + Number(b), 0);
    const drained = await measured(redis, () => timed(() => drainBuffers({ redis, store, prefix })));
    const { result, seconds } = drained.result;
    // Only records written to raw/ count; quarantined ones are reported apart.
    const written = result.reduce((a, r) => a + r.written, 0);
    const quarantined = result.reduce((a, r) => a + r.quarantined, 0);
    report(
      `export to the filesystem store (${buffered.toLocaleString('en-US')} buffered)`,
      written / seconds,
      'records/s',
    );
    process.stdout.write(
      `  ${written.toLocaleString('en-US')} records written to raw/; not counted: ${quarantined} quarantined\n`,
    );
    reportCost('export', written, seconds, drained.cost);
    process.stdout.write(`after: ${load()}\n`);
    report('peak memory of the server process (RSS)', peakRssMiB(), 'MiB');
  } finally {
    await app.close();
    if (!privateRedis) {
      let cursor = '0';
      do {
        const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
        cursor = nextCursor;
        if (found.length > 0) await redis.unlink(...found);
      } while (cursor !== '0');
    }
    redis.disconnect();
    privateRedis?.child.kill();
    await rm(root, { recursive: true, force: true });
  }
}
