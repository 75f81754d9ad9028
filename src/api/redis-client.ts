import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

/**
 * The API's Redis connection. No offline queue and a command timeout: when Redis is down, ingest
 * must fail at once with 503 (the sender retries) instead of holding requests until it returns.
 * Reconnection continues in the background, so the API recovers on its own.
 */
export function createIngestRedis(url: string, logger?: Logger): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 3_000,
    // Send the commands issued in one tick as one round trip: many small webhooks share it.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
  });
  let lastWarning = 0;
  redis.on('error', (error: Error) => {
    // Reconnect attempts fail every two seconds while Redis is down: warn once a minute.
    if (Date.now() - lastWarning < 60_000) return;
    lastWarning = Date.now();
    logger?.warn({ code: (error as { code?: string }).code }, 'redis connection error');
  });
  return redis;
}

/**
 * A connection for BullMQ queues and workers: commands wait through reconnects
 * (`maxRetriesPerRequest: null`), as BullMQ requires.
 */
export function createQueueRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  redis.on('error', () => {
    // ioredis reconnects by itself; failures surface through the commands that need Redis.
  });
  return redis;
}

/** True when Redis answers PING within `timeoutMs`: commands that need it fail fast, never hang. */
export async function redisAnswers(url: string, timeoutMs = 1_000): Promise<boolean> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
