import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createIngestRedis } from '../../src/api/redis-client.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { bearer, cioEvent, readAll, signedHeaders, testEnv } from '../ingest/harness.js';

/**
 * Redis is the durable buffer: when it is down, ingest must say so (503 + Retry-After) and claim
 * nothing; when it is back, the sender's retries land and nothing accepted before is lost. This
 * test runs its OWN redis-server on a spare port and stops only that one.
 */

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

function startRedis(port: number): ChildProcess {
  return spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const batch = (from: number, to: number) => ({
  batch: Array.from({ length: to - from }, (_, i) => ({
    id: `evt-${from + i}`,
    customer_id: `c${from + i}`,
    name: 'checkout_started',
    timestamp: 1_764_357_285 + from + i,
  })),
});

describe('ingest while Redis is down', () => {
  let port: number;
  let redisProcess: ChildProcess;
  let app: FastifyInstance;
  let t: TestStore;
  let url: string;

  beforeAll(async () => {
    port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    redisProcess = startRedis(port);
    t = await createFsTestStore();
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    await until(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        return false;
      }
    }, 'the private redis-server');
    probe.disconnect();
    app = await buildApp({ env: testEnv({ REDIS_URL: url }), redis: createIngestRedis(url), store: t.store });
  });
  afterAll(async () => {
    await app?.close();
    app?.redis.disconnect();
    await stopRedis(redisProcess);
    await t.cleanup();
  });

  const ready = async () => (await app.inject('/readyz')).statusCode === 200;
  const track = (payload: object) =>
    app.inject({ method: 'POST', url: '/v1/track', payload, headers: bearer });

  it('answers 503 with Retry-After and claims nothing, then loses nothing once Redis is back', async () => {
    await until(ready, 'readiness');
    const first = await track(batch(0, 20));
    expect(first.statusCode).toBe(202);
    // What was accepted before the outage is exported before it (this Redis keeps nothing on disk).
    const exporter = new Redis(url);
    await drainBuffers({ redis: exporter, store: t.store });
    exporter.disconnect();

    await stopRedis(redisProcess);
    await until(async () => !(await ready()), 'readiness to drop');
    const refused = await track(batch(20, 40));
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(refused.json()).toMatchObject({ error: 'buffer_unavailable', accepted: 0 });
    expect(refused.json()).not.toHaveProperty('results');
    const webhookBody = JSON.stringify(cioEvent('email', 'opened', { event_id: 'evt-webhook-outage' }));
    const webhook = () =>
      app.inject({
        method: 'POST',
        url: '/v1/webhooks/customerio',
        payload: webhookBody,
        headers: signedHeaders(webhookBody),
      });
    const refusedHook = await webhook();
    expect(refusedHook.statusCode).toBe(503);
    expect(refusedHook.headers['retry-after']).toBe('5');
    const readiness = await app.inject('/readyz');
    expect(readiness.statusCode).toBe(503);
    expect(readiness.json().checks.redis).toMatch(/^unavailable/);

    redisProcess = startRedis(port);
    await until(ready, 'the API to reconnect');
    // The sender retries what was refused.
    const retried = await track(batch(20, 40));
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ accepted: 20, duplicates: 0 });
    // Customer.io retries the webhook: it was never claimed, so it is accepted, not a duplicate.
    expect((await webhook()).json()).toEqual({ status: 'accepted' });

    const exporter2 = new Redis(url);
    await drainBuffers({ redis: exporter2, store: t.store });
    exporter2.disconnect();
    const ids = (await readAll(t.store, 'raw/events/')).map((r) => r.record.id as string).sort();
    expect(ids).toEqual(Array.from({ length: 40 }, (_, i) => `evt-${i}`).sort());
    const messages = (await readAll(t.store, 'raw/messages/')).map((r) => r.record.id);
    expect(messages).toEqual(['evt-webhook-outage']);
  });
});
