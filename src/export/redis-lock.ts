import type { Redis } from 'ioredis';
import { log } from '../log.js';
import { tryAcquireFencedLease } from '../redis/lock.js';

/**
 * A lease in Redis: one exporter per dataset at a time (the minute scheduler, an early trigger and
 * `audience-sync export` may all start one). Safety does not depend on it — part names are
 * deterministic and the trim is conditional — it only avoids doing the same work twice. It is the
 * sync lock's fenced lease (src/redis/lock.ts): renewed in the background, confirmed after each chunk.
 */
export interface Lease {
  /** Confirms (and renews) the lease in Redis; `false` when it was lost to another holder or to expiry. */
  extend(): Promise<boolean>;
  release(): Promise<void>;
}

export async function acquireLease(redis: Redis, key: string, ttlMs: number): Promise<Lease | null> {
  const lease = await tryAcquireFencedLease(redis, key, { leaseMs: ttlMs, log, what: `export ${key}` });
  if (!lease) return null;
  return {
    extend: async () => (await lease.confirm()) === undefined,
    release: () => lease.release(),
  };
}
