import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';

/**
 * Starts one real S3 protocol server (s3rver) for the whole run, on a free port with a temporary
 * directory, and makes sure Redis answers. Tests get the endpoint through `inject('s3Endpoint')`
 * and isolate themselves with their own bucket, key prefix or BullMQ prefix.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    s3Endpoint: string;
    redisUrl: string;
  }
}

const REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no';

async function checkRedis(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch {
    throw new Error(`Redis is not answering at ${redisUrl}. Start it with: ${REDIS_START}`);
  } finally {
    redis.disconnect();
  }
}

function startS3rver(directory: string): Promise<{ child: ChildProcess; port: number }> {
  const script = new URL('./s3rver-process.mjs', import.meta.url);
  const child = spawn(process.execPath, ['--openssl-legacy-provider', script.pathname, directory], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it was ready`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  await checkRedis(redisUrl);

  const directory = await mkdtemp(join(tmpdir(), 'audience-sync-s3rver-'));
  const { child, port } = await startS3rver(directory);
  project.provide('s3Endpoint', `http://127.0.0.1:${port}`);
  project.provide('redisUrl', redisUrl);

  return async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin?.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
  };
}
