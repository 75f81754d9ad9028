import type { Redis } from 'ioredis';
import { type Env, getEnv } from '../config/env.js';
import { loadAudienceSyncConfig } from '../config-file.js';
import { log } from '../log.js';
import type { StageContext } from '../pipeline/stages.js';
import { COMMAND_READY_TIMEOUT_MS, connectCommandClient, probeRedis } from '../redis/clients.js';
import { ensureLayout, openStore } from '../storage/open-store.js';
import { lockerWithoutRedis } from '../sync/host-lock.js';
import { RedisLocker } from '../sync/lock.js';
import { CliError, EXIT } from './output.js';

/** How long the lock connection may take to connect, authenticate and select its database. */
const READY_TIMEOUT_MS = COMMAND_READY_TIMEOUT_MS;

/**
 * Store, configuration and locks for commands that run stages in this process. Redis is used for
 * sync locks when it answers within half a second; otherwise the locks are the machine's (one per
 * store and lock name, shared by this machine's processes) and nothing waits for Redis.
 */
export async function openStageContext(options: { env?: Env; writes?: boolean } = {}): Promise<{
  ctx: StageContext;
  redisReachable: boolean;
  close(): Promise<void>;
}> {
  const env = options.env ?? getEnv();
  const loaded = await loadAudienceSyncConfig(env.CONFIG);
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
    // The workers' prefix: a CLI sync and a worker's sync of the same deployment exclude each other.
    // Without Redis, CLI runs on this machine still exclude each other (host-lock.ts).
    locker: redis ? new RedisLocker(redis, `${env.QUEUE_PREFIX}:lock:`) : lockerWithoutRedis(store.location),
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
 * The short-command connection for sync locks (the `command` use of src/redis/clients.ts): it has no
 * offline queue, so a command fails at once when Redis goes away instead of hanging the CLI, and it
 * resolves only once the connection is ready, so the first lock command cannot race the handshake.
 */
export async function connectLockRedis(url: string, readyTimeoutMs = READY_TIMEOUT_MS): Promise<Redis> {
  try {
    return await connectCommandClient(url, { readyTimeoutMs, label: 'sync locks' });
  } catch (error) {
    throw new CliError(
      `${error instanceof Error ? error.message : String(error)} (it answered a ping just before; the sync locks need it — check REDIS_URL and try again)`,
      EXIT.failed,
    );
  }
}
