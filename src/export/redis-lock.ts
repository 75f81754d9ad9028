import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * A lease in Redis: one exporter per dataset at a time (the minute scheduler, an early trigger and
 * `audience-sync export` may all start one). Safety does not depend on it — part names are
 * deterministic and the trim is conditional — it only avoids doing the same work twice.
 */
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface Lease {
  /** Renews the lease; `false` when another holder has taken it over. */
  extend(): Promise<boolean>;
  release(): Promise<void>;
}

export async function acquireLease(redis: Redis, key: string, ttlMs: number): Promise<Lease | null> {
  const token = randomBytes(12).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  return {
    extend: async () => (await redis.eval(EXTEND, 1, key, token, ttlMs)) === 1,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token);
    },
  };
}
