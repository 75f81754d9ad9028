import { Redis, type RedisOptions } from 'ioredis';
import { type Logger, log as rootLogger } from '../log.js';
import { waitForRedisReady } from './ready.js';
import { describeRedisEndpoint, scrubRedisSecrets } from './scrub.js';

/**
 * Every Redis client of the process is made here, one option set per use, so that a password, a
 * database index and `rediss://` in REDIS_URL work the same everywhere, and no client drops its
 * `error` events (ioredis emits one per failed connect; an unlistened 'error' crashes the process,
 * and a listener that ignores it hides why things stall).
 *
 * The uses (docs/operations.md#redis repeats this for operators):
 *  - `blocking` — BullMQ workers, queues and flows. `maxRetriesPerRequest: null` (BullMQ requires it
 *    for blocking commands, which must wait through reconnects) and the offline queue on: commands
 *    issued while Redis is away wait for it instead of failing a job.
 *  - `command` — short commands where an answer now beats an answer later: sync and export locks,
 *    CLI commands (`check`, `export`), queue gauges for /metrics. No offline queue, one retry, a
 *    command timeout; created lazily, and `connectCommandClient` resolves only once the client is
 *    `ready` (connected, authenticated, database selected), because a command sent before that
 *    fails with "Stream isn't writeable and enableOfflineQueue options is false".
 *  - `ingest` — the API's hot path into the ingest buffer: no offline queue and no retry, so a
 *    request fails at once with 503 while Redis is down (the sender retries) instead of piling up;
 *    auto-pipelining batches the many small writes of one tick; reconnects continue in the
 *    background so the API recovers on its own.
 *  - `probe` — one PING to learn whether Redis is there: no reconnect, everything bounded.
 */
export type RedisUse = 'blocking' | 'command' | 'ingest' | 'probe';

/** How long a `command` client may take to connect, authenticate (and finish TLS) and select its db. */
export const COMMAND_READY_TIMEOUT_MS = 3_000;

const USE_OPTIONS: Record<RedisUse, RedisOptions> = {
  blocking: {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
  },
  command: {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
  },
  ingest: {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 3_000,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
  },
  probe: {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  },
};

export interface RedisClientOptions {
  /** Where connection errors are logged (default: the process logger). */
  logger?: Pick<Logger, 'warn'>;
  /** Names the client in its log lines (`sync locks`, `ingest buffer`, ...). */
  label?: string;
  /** Per-call adjustments (timeouts, `lazyConnect`); the URL's host, password, db and TLS always win. */
  overrides?: RedisOptions;
}

/** Repeats of one connection error are logged once a minute: reconnect attempts repeat it every second or two. */
const REPEAT_LOG_MS = 60_000;

export function createRedisClient(url: string, use: RedisUse, options: RedisClientOptions = {}): Redis {
  // ioredis lets the URL's parts (host, port, password, db, rediss:// → TLS) take precedence over
  // the options object, so a use's options never override what the operator put in REDIS_URL.
  const redis = new Redis(url, { ...USE_OPTIONS[use], ...options.overrides });
  logRedisErrors(redis, options.logger ?? rootLogger, options.label ?? use);
  return redis;
}

/**
 * A `command` client that is ready for its first command. Rejects after `readyTimeoutMs` with an
 * error naming host, port and database (never the password), and leaves no connection behind.
 */
export async function connectCommandClient(
  url: string,
  options: RedisClientOptions & { readyTimeoutMs?: number } = {},
): Promise<Redis> {
  const redis = createRedisClient(url, 'command', options);
  try {
    await waitForRedisReady(redis, options.readyTimeoutMs ?? COMMAND_READY_TIMEOUT_MS);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/** BullMQ's connection for workers, queues and flows. */
export function createBullConnection(url: string, options: RedisClientOptions = {}): Redis {
  return createRedisClient(url, 'blocking', { label: 'bullmq', ...options });
}

/** True when Redis answers PING within `timeoutMs` (AUTH, TLS and SELECT included). */
export async function probeRedis(url: string, timeoutMs = 500): Promise<boolean> {
  const redis = createRedisClient(url, 'probe', {
    overrides: { connectTimeout: timeoutMs, commandTimeout: timeoutMs },
    // A missing Redis is an answer here, not a problem: callers say what they do without it.
    logger: { warn: () => {} },
  });
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** `Redis at host:port/db` of a client, for messages: never its credentials. */
function describeRedis(redis: Redis): string {
  return describeRedisEndpoint(redis.options);
}

/**
 * Logs the client's `error` events, scrubbed of its credentials: each distinct one at once, a
 * repeat of the same one at most once a minute.
 */
function logRedisErrors(redis: Redis, logger: Pick<Logger, 'warn'>, label: string): void {
  const seen = new Map<string, number>();
  redis.on('error', (error: Error) => {
    const message = scrubRedisSecrets(error.message, redis.options);
    const now = Date.now();
    const last = seen.get(message);
    if (last !== undefined && now - last < REPEAT_LOG_MS) return;
    seen.set(message, now);
    if (seen.size > 50) seen.delete(seen.keys().next().value!);
    logger.warn(
      { redis: describeRedis(redis), client: label, code: (error as { code?: string }).code, err: message },
      'redis connection error',
    );
  });
}

/**
 * BullMQ queues and flow producers pass their connection's errors on as `error` events, and print
 * them raw to stderr when nothing listens: they go to the logger instead, scrubbed like the rest.
 */
export function logBullErrors<T extends { on(event: 'error', listener: (error: Error) => void): unknown }>(
  emitter: T,
  connection: Redis,
  logger: Pick<Logger, 'warn'>,
  label: string,
): T {
  emitter.on('error', (error: Error) =>
    logger.warn(
      {
        redis: describeRedis(connection),
        client: label,
        err: scrubRedisSecrets(error.message, connection.options),
      },
      'queue connection error',
    ),
  );
  return emitter;
}
