import { Redis } from 'ioredis';
import { loadAudienceConfig } from '../audiences/config.js';
import { type Env, getEnv } from '../config/env.js';
import { log } from '../log.js';
import { probeRedis } from '../pipeline/redis.js';
import type { StageContext } from '../pipeline/stages.js';
import { ensureLayout, openStore } from '../storage/open-store.js';
import { describeRedis, LocalLocker, RedisLocker, waitForRedisReady } from '../sync/lock.js';
import { CliError, EXIT } from './output.js';

/** How long the lock connection may take to connect, authenticate and select its database. */
const READY_TIMEOUT_MS = 3_000;

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
  let redis: Redis | undefined;
  if (redisReachable) {
    try {
      redis = await connectLockRedis(env.REDIS_URL);
    } catch (error) {
      await store.close();
      throw error;
    }
  }
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

/**
 * The short-command connection for sync locks. It has no offline queue (a command fails at once
 * when Redis goes away instead of hanging the CLI), so ioredis rejects anything sent before the
 * connection is `ready` ("Stream isn't writeable ..."): this resolves only once it is ready.
 */
export async function connectLockRedis(url: string, readyTimeoutMs = READY_TIMEOUT_MS): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 1000,
    enableOfflineQueue: false,
  });
  const password = redis.options.password;
  let lastLogged = '';
  let lastLoggedAt = 0;
  redis.on('error', (error: Error) => {
    // Reconnect attempts repeat the same failure: log each distinct one, and repeats once a minute.
    const message = password ? error.message.split(password).join('[redacted]') : error.message;
    if (message === lastLogged && Date.now() - lastLoggedAt < 60_000) return;
    lastLogged = message;
    lastLoggedAt = Date.now();
    log.warn(
      { redis: describeRedis(redis), code: (error as { code?: string }).code, err: message },
      'redis connection error (sync locks)',
    );
  });
  try {
    await waitForRedisReady(redis, readyTimeoutMs);
  } catch (error) {
    redis.disconnect();
    throw new CliError(
      `${error instanceof Error ? error.message : String(error)} (it answered a ping just before; the sync locks need it — check REDIS_URL and try again)`,
      EXIT.failed,
    );
  }
  return redis;
}
