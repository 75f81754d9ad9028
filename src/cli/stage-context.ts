import { Redis } from 'ioredis';
import { loadAudienceConfig } from '../audiences/config.js';
import { type Env, getEnv } from '../config/env.js';
import { log } from '../log.js';
import { probeRedis } from '../pipeline/redis.js';
import type { StageContext } from '../pipeline/stages.js';
import { ensureLayout, openStore } from '../storage/open-store.js';
import { LocalLocker, RedisLocker } from '../sync/lock.js';

/**
 * Store, configuration and locks for commands that run stages in this process. Redis is used for
 * sync locks when it answers within half a second; otherwise the locks are local and nothing waits.
 */
export async function openStageContext(options: { env?: Env; writes?: boolean } = {}): Promise<{
  ctx: StageContext;
  redisReachable: boolean;
  close(): Promise<void>;
}> {
  const env = options.env ?? getEnv();
  const loaded = await loadAudienceConfig(env.CONFIG);
  const store = openStore(env.STORE_URL, env);
  if (options.writes !== false) await ensureLayout(store);
  const redisReachable = await probeRedis(env.REDIS_URL);
  const redis = redisReachable
    ? new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 1000, enableOfflineQueue: false })
    : undefined;
  redis?.on('error', () => {});
  const ctx: StageContext = {
    store,
    loaded,
    env,
    log,
    locker: redis ? new RedisLocker(redis) : new LocalLocker(),
  };
  return {
    ctx,
    redisReachable,
    async close() {
      redis?.disconnect();
      await store.close();
    },
  };
}
