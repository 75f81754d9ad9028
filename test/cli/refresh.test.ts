import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createFsTestStore, uniqueName } from '../helpers/stores.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;
const EXAMPLE = new URL('../../audience-sync.example.yaml', import.meta.url).pathname;

describe('audience-sync refresh with Redis reachable', () => {
  it('enqueues the day once and stops with a clear message when no worker consumes the queues', async () => {
    const { root, cleanup } = await createFsTestStore();
    const prefix = uniqueName('refreshcli');
    const env = {
      ...process.env,
      CONFIG: EXAMPLE,
      STORE_URL: root,
      QUEUE_PREFIX: prefix,
      REDIS_URL: inject('redisUrl'),
    };
    const redis = new Redis(inject('redisUrl'));
    try {
      const first = await run(process.execPath, [BIN, 'refresh', '--date', '2026-11-20', '--dry-run'], {
        env,
      }).catch((e) => e);
      expect(first.code).toBe(1);
      expect(first.stderr).toMatch(/enqueued refresh-2026-11-20-dry/);
      expect(first.stderr).toMatch(
        /no worker is consuming the queues: refresh-2026-11-20-dry stays enqueued/,
      );
      const second = await run(process.execPath, [BIN, 'refresh', '--date', '2026-11-20', '--dry-run'], {
        env,
      }).catch((e) => e);
      expect(second.stderr).toMatch(/refresh-2026-11-20-dry was already enqueued/);
      // One flow in Redis for the day, not two.
      expect(await redis.exists(`${prefix}:refresh:refresh-2026-11-20-dry`)).toBe(1);
    } finally {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      await cleanup();
    }
  });
});
