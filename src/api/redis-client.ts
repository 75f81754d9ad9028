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
