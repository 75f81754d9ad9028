import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createFsTestStore } from '../helpers/stores.js';

type FsTestStore = Awaited<ReturnType<typeof createFsTestStore>>;

import { API_KEY, deletePrefix, streamRecords, testRedis, uniquePrefix } from '../ingest/harness.js';

const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

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

describe('CLI: serve', () => {
  let t: FsTestStore;
  let redis: Redis;
  const prefix = uniquePrefix('serve');

  beforeAll(async () => {
    t = await createFsTestStore();
    redis = testRedis();
  });
  afterAll(async () => {
    await deletePrefix(redis, prefix);
    redis.disconnect();
    await t.cleanup();
  });

  it('serves ingest on HOST:PORT and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--shutdown-timeout', '5'], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        STORE_URL: t.root,
        REDIS_URL: inject('redisUrl'),
        QUEUE_PREFIX: prefix,
        API_KEYS: API_KEY,
        CONFIG: `${t.root}/absent.yaml`,
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const base = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 300 && !up && child.exitCode === null; i++) {
      up = await fetch(`${base}/healthz`)
        .then((r) => r.ok)
        .catch(() => false);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    expect(up, stderr).toBe(true);

    const res = await fetch(`${base}/v1/track`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'served-1', customer_id: 'c1', name: 'served' }),
    });
    expect(res.status).toBe(202);
    // The buffer keys sit under the deployment prefix (QUEUE_PREFIX).
    expect((await streamRecords(redis, `${prefix}:ingest:stream:events`)).map((r) => r.id)).toEqual([
      'served-1',
    ]);
    expect(await t.store.exists('_layout.json')).toBe(true);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
