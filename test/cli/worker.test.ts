import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { createFsTestStore, uniqueName } from '../helpers/stores.js';

const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;
const EXAMPLE = new URL('../../audience-sync.example.yaml', import.meta.url).pathname;

describe('audience-sync worker', () => {
  it('starts every processor, installs the schedule, and stops cleanly on SIGTERM', async () => {
    const { root, cleanup } = await createFsTestStore();
    const prefix = uniqueName('workercli');
    const child = spawn(process.execPath, [BIN, 'worker', '--shutdown-timeout', '5'], {
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        CONFIG: EXAMPLE,
        STORE_URL: root,
        QUEUE_PREFIX: prefix,
        REDIS_URL: inject('redisUrl'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 30_000;
    while (!output.includes('worker started') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(output).toContain('worker started');
    const started = JSON.parse(output.split('\n').find((l) => l.includes('worker started'))!);
    expect(started.queues).toEqual(
      expect.arrayContaining(['refresh', 'people', 'build', 'measure', 'sync-meta', 'export']),
    );

    const redis = new Redis(inject('redisUrl'));
    try {
      // The daily refresh schedule from the config is installed.
      const schedulers = await redis.keys(`${prefix}:refresh:repeat*`);
      expect(schedulers.length).toBeGreaterThan(0);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(output).toContain('worker stopping');
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
      await cleanup();
    }
  });
});
