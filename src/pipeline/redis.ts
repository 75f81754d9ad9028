import type { Redis } from 'ioredis';

/** The clients come from the one factory (src/redis/clients.ts); BullMQ code imports them from here. */
export { createBullConnection, probeRedis } from '../redis/clients.js';

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
