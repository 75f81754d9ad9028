import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { createRedisClient } from '../redis/clients.js';

/**
 * The API's Redis connection (the `ingest` use of src/redis/clients.ts): ingest fails at once with
 * 503 while Redis is down (the sender retries) and recovers on its own when it returns.
 */
export function createIngestRedis(url: string, logger?: Logger): Redis {
  return createRedisClient(url, 'ingest', { label: 'ingest buffer', ...(logger ? { logger } : {}) });
}
