import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections for BullMQ. Workers need `maxRetriesPerRequest: null` (blocking commands must
 * wait through reconnects); commands that can run without Redis only probe it, with a short
 * timeout and no retry loop, so they never hang when it is absent.
 */
export function createBullConnection(url: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...options });
  redis.on('error', () => {
    // ioredis reconnects by itself; BullMQ surfaces failures through the jobs.
  });
  return redis;
}

/** True when Redis answers PING within `timeoutMs`. */
export async function probeRedis(url: string, timeoutMs = 500): Promise<boolean> {
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

/**
 * BullMQ needs every key kept: with an eviction policy Redis may silently drop jobs under memory
 * pressure. Returns the policy when it is not `noeviction` (to warn), or undefined.
 */
export async function evictionPolicyWarning(redis: Redis): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    return policy && policy !== 'noeviction' ? policy : undefined;
  } catch {
    return undefined; // CONFIG may be disabled on managed Redis.
  }
}
