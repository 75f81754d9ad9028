import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { type Logger, log as rootLogger } from '../log.js';

/**
 * One sync per audience × destination at a time, across every worker: two jobs on one Google list
 * fail with CONCURRENT_MODIFICATION, and two find-or-creates of one Meta audience would create two.
 * With Redis the lock is shared by all processes; without it (a one-machine CLI run) it is local.
 */
export interface Locker {
  /**
   * Runs `fn` holding the lock; throws `LockBusyError` if another holder keeps it past `waitMs`.
   * `fn` gets the held lock: long work checks `assertHeld()` before each step that must not run
   * twice at once (a lease that could not be renewed may already belong to someone else).
   */
  withLock<T>(name: string, fn: (held: HeldLock) => Promise<T>, options?: { waitMs?: number }): Promise<T>;
}

export interface HeldLock {
  readonly name: string;
  /** True once the lock can no longer be vouched for: taken over, deleted, or not renewed within its lease. */
  readonly lost: boolean;
  /** Throws `LockLostError` when the lock is lost. */
  assertHeld(): void;
}

export interface Lease extends HeldLock {
  /** Stops renewing and deletes the key if it is still ours. */
  release(): Promise<void>;
}

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
  constructor(readonly lock: string) {
    super(`another process is syncing ${lock}; try again when it has finished`);
  }
}

export class LockLostError extends Error {
  override readonly name = 'LockLostError';
  constructor(
    readonly lock: string,
    readonly reason: string,
  ) {
    super(
      `lost the sync lock ${lock} (${reason}); stopped so that two processes never sync it at once — run it again to resume`,
    );
  }
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export interface RedisLockerOptions {
  /** Lease length; renewed at a third of it while the holder runs, so a dead holder frees it soon. */
  leaseMs?: number;
  /**
   * How long the first command waits for a client without an offline queue to become ready
   * (ioredis rejects commands sent before `ready` instead of queueing them).
   */
  readyTimeoutMs?: number;
  log?: Pick<Logger, 'warn' | 'error'>;
}

export class RedisLocker implements Locker {
  private readonly leaseMs: number;
  private readonly readyTimeoutMs: number;
  private readonly log: Pick<Logger, 'warn' | 'error'>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'audience-sync:lock:',
    options: RedisLockerOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 30_000;
    this.readyTimeoutMs = options.readyTimeoutMs ?? 5_000;
    this.log = options.log ?? rootLogger;
  }

  async withLock<T>(
    name: string,
    fn: (held: HeldLock) => Promise<T>,
    options: { waitMs?: number } = {},
  ): Promise<T> {
    const lease = await this.acquire(name, options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /** Takes the lock (waiting up to `waitMs` for another holder) and renews it until released. */
  async acquire(name: string, options: { waitMs?: number } = {}): Promise<Lease> {
    if (this.redis.options.enableOfflineQueue === false) {
      await waitForRedisReady(this.redis, this.readyTimeoutMs);
    }
    const key = this.prefix + name;
    const token = randomBytes(12).toString('hex');
    const deadline = Date.now() + (options.waitMs ?? 0);
    let confirmedAt: number;
    for (;;) {
      confirmedAt = Date.now();
      const ok = await this.redis.set(key, token, 'PX', this.leaseMs, 'NX');
      if (ok === 'OK') break;
      if (Date.now() >= deadline) throw new LockBusyError(name);
      await new Promise((r) => setTimeout(r, 250));
    }

    let lostReason: string | undefined;
    let lastError: string | undefined;
    let renewing = false;
    let released = false;
    const markLost = (reason: string) => {
      if (lostReason || released) return;
      lostReason = reason;
      clearInterval(renew);
      this.log.error({ lock: name, reason }, 'sync lock lost');
    };
    // The lease runs from when the last successful SET / PEXPIRE was sent: past it, the key may
    // have expired and been taken by another holder, even if no reply said so.
    const expired = () => Date.now() - confirmedAt >= this.leaseMs;
    const renew = setInterval(
      () => {
        if (renewing || lostReason) return;
        renewing = true;
        const sentAt = Date.now();
        this.redis
          .eval(RENEW, 1, key, token, String(this.leaseMs))
          .then((renewed) => {
            if (renewed === 1) {
              confirmedAt = sentAt;
              lastError = undefined;
            } else markLost('its key was deleted or taken over by another holder');
          })
          .catch((error: unknown) => {
            lastError = error instanceof Error ? error.message : String(error);
            this.log.warn({ lock: name, err: lastError }, 'could not renew the sync lock; retrying');
            if (expired()) markLost(`not renewed within its ${this.leaseMs} ms lease: ${lastError}`);
          })
          .finally(() => {
            renewing = false;
          });
      },
      Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    renew.unref();

    const lease: Lease = {
      name,
      get lost() {
        if (!lostReason && expired()) {
          markLost(`not renewed within its lease${lastError ? `: ${lastError}` : ''}`);
        }
        return lostReason !== undefined;
      },
      assertHeld() {
        if (lease.lost) throw new LockLostError(name, lostReason!);
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        try {
          await this.redis.eval(RELEASE, 1, key, token);
        } catch (error) {
          // The lease still expires on its own; the next holder waits at most that long.
          this.log.warn(
            { lock: name, err: error instanceof Error ? error.message : String(error) },
            'could not release the sync lock; it expires with its lease',
          );
        }
      },
    };
    return lease;
  }
}

/** In-process lock for runs without Redis. */
export class LocalLocker implements Locker {
  private readonly held = new Set<string>();

  async withLock<T>(
    name: string,
    fn: (held: HeldLock) => Promise<T>,
    options: { waitMs?: number } = {},
  ): Promise<T> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    while (this.held.has(name)) {
      if (Date.now() >= deadline) throw new LockBusyError(name);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.held.add(name);
    try {
      return await fn({ name, lost: false, assertHeld() {} });
    } finally {
      this.held.delete(name);
    }
  }
}

/** `host:port/db` (or the socket path) of a client: for messages, never with its credentials. */
export function describeRedis(redis: Redis): string {
  const { path, host, port, db } = redis.options;
  return `Redis at ${path ?? `${host ?? '127.0.0.1'}:${port ?? 6379}`}${db ? `/${db}` : ''}`;
}

/**
 * Waits until `redis` is ready for commands (connected, authenticated, database selected), connecting
 * it first when it was created with `lazyConnect`. Rejects after `timeoutMs`, or when the client
 * gives up, with a message naming the server but not its password.
 */
export async function waitForRedisReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  const where = describeRedis(redis);
  const password = redis.options.password;
  const scrub = (message: string) => (password ? message.split(password).join('[redacted]') : message);
  if (redis.status === 'end') throw new Error(`${where}: the connection is closed`);
  let lastError: string | undefined;
  const because = () => (lastError ? `: ${scrub(lastError)}` : '');
  const onError = (error: Error) => {
    lastError = error.message;
  };
  let onReady = () => {};
  let onEnd = () => {};
  let timer: NodeJS.Timeout | undefined;
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onEnd = () => reject(new Error(`${where} closed the connection before it was ready${because()}`));
      timer = setTimeout(
        () => reject(new Error(`${where} was not ready within ${timeoutMs} ms${because()}`)),
        timeoutMs,
      );
      redis.once('ready', onReady);
      redis.once('end', onEnd);
      // Failures arrive as 'error' / 'end' events (or the timeout): the promise itself adds nothing.
      if (redis.status === 'wait') redis.connect().catch(() => {});
    });
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
    redis.off('ready', onReady);
    redis.off('end', onEnd);
  }
}
