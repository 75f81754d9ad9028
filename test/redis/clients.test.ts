import { readFile } from 'node:fs/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import {
  connectCommandClient,
  createBullConnection,
  createRedisClient,
  probeRedis,
  type RedisUse,
} from '../../src/redis/clients.js';
import { redisSupportsTls, startTestRedis, type TestRedisServer } from './server.js';

/**
 * The client factory against a redis-server of the test's own with a password (`requirepass`), a
 * database index, and TLS (`rediss://`, a throwaway certificate) when the build supports it.
 */

function captureLogger() {
  let text = '';
  const logger = createLogger(
    { level: 'warn' },
    {
      write: (chunk: string) => {
        text += chunk;
      },
    },
  );
  return { logger, text: () => text };
}

const tls = await redisSupportsTls();

describe('Redis clients from the factory', () => {
  let server: TestRedisServer;
  let admin10: Redis;
  let ca: string | undefined;
  const open: Redis[] = [];
  const keep = <T extends Redis>(c: T) => {
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    server = await startTestRedis({ tls });
    admin10 = new Redis(`${server.url}/10`);
    ca = server.caFile ? await readFile(server.caFile, 'utf8') : undefined;
  });
  afterAll(async () => {
    for (const c of open) c.disconnect();
    admin10?.disconnect();
    await server?.stop();
  });

  const urls = () => [
    { name: 'redis:// with a password and /10', url: `${server.url}/10`, tlsOptions: {} },
    ...(server.tlsUrl
      ? [
          {
            name: 'rediss:// with a password and /10',
            url: `${server.tlsUrl}/10`,
            tlsOptions: { tls: { ca: ca! } },
          },
        ]
      : []),
  ];

  it('every use works with a password, a database index and (when built with it) TLS', async () => {
    expect(urls().length).toBe(tls ? 2 : 1);
    for (const { name, url, tlsOptions } of urls()) {
      for (const use of ['blocking', 'command', 'ingest'] as RedisUse[]) {
        const client = keep(createRedisClient(url, use, { overrides: tlsOptions }));
        const key = `factory:${use}:${name.slice(0, 6)}`;
        // The `command` client has no offline queue: it is connected on demand, then used.
        if (use === 'command') await client.connect();
        else await new Promise((resolve) => client.once('ready', resolve));
        expect(await client.set(key, use), `${name} ${use}`).toBe('OK');
        // It landed in database 10 of the password-protected server.
        expect(await admin10.get(key)).toBe(use);
      }
      const ready = keep(await connectCommandClient(url, { overrides: tlsOptions }));
      expect(ready.status).toBe('ready');
      expect(await ready.ping()).toBe('PONG');
    }
    expect(await probeRedis(`${server.url}/10`, 1_000)).toBe(true);
  });

  it('BullMQ runs a job on the blocking connection with a password and /10', async () => {
    const connection = keep(createBullConnection(`${server.url}/10`));
    const queue = new Queue('factory-test', { connection, prefix: 'factory' });
    const worker = new Worker('factory-test', async (job) => job.data.n * 2, {
      connection,
      prefix: 'factory',
    });
    try {
      const done = new Promise<number>((resolve) =>
        worker.once('completed', (_job, value) => resolve(value)),
      );
      await queue.add('double', { n: 21 }, { jobId: 'factory-double-1' });
      expect(await done).toBe(42);
      expect((await admin10.keys('factory:factory-test:*')).length).toBeGreaterThan(0);
    } finally {
      await worker.close();
      await queue.close();
    }
  });

  it('a wrong password: a clear error naming host, port and database, never the password; errors are logged scrubbed', async () => {
    const capture = captureLogger();
    const wrong = `redis://:not-the-pw-${server.password.slice(3)}@127.0.0.1:${server.port}/10`;
    const error = await connectCommandClient(wrong, { readyTimeoutMs: 1_500, logger: capture.logger }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(new RegExp(`^Redis at 127\\.0\\.0\\.1:${server.port}/10 `));
    expect((error as Error).message).toMatch(/WRONGPASS|NOAUTH|invalid/i);
    expect((error as Error).message).not.toContain('not-the-pw');
    expect(capture.text()).toContain('redis connection error');
    expect(capture.text()).not.toContain('not-the-pw');
    expect(await probeRedis(wrong, 1_000)).toBe(false);
  });

  it('an error event that carries the password is logged without it (the factory always listens)', async () => {
    const capture = captureLogger();
    const client = keep(
      createRedisClient(`${server.url}/10`, 'command', { logger: capture.logger, label: 'test' }),
    );
    expect(client.listenerCount('error')).toBeGreaterThan(0);
    client.emit(
      'error',
      new Error(`AUTH ${server.password} failed for redis://:${server.password}@somewhere:1`),
    );
    expect(capture.text()).toContain('redis connection error');
    expect(capture.text()).toContain('[redacted]');
    expect(capture.text()).not.toContain(server.password);
    // A repeat of the same error within a minute is not logged again.
    const lines = capture.text().split('\n').filter(Boolean).length;
    client.emit(
      'error',
      new Error(`AUTH ${server.password} failed for redis://:${server.password}@somewhere:1`),
    );
    expect(capture.text().split('\n').filter(Boolean).length).toBe(lines);
  });

  it.runIf(tls)(
    'rediss:// without the certificate trusted fails with a clear error, not a hang',
    async () => {
      const error = await connectCommandClient(`${server.tlsUrl}/10`, { readyTimeoutMs: 1_500 }).catch(
        (e: Error) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/^Redis at rediss:\/\/127\.0\.0\.1:\d+\/10 /);
      expect((error as Error).message).not.toContain(server.password);
    },
  );
});
