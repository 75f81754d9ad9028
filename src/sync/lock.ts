import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * One sync per audience × destination at a time, across every worker: two jobs on one Google list
 * fail with CONCURRENT_MODIFICATION, and two find-or-creates of one Meta audience would create two.
 * With Redis the lock is shared by all processes; without it (a one-machine CLI run) it is local.
 */
export interface Locker {
  /** Runs `fn` holding the lock; throws `LockBusyError` if another holder keeps it past `waitMs`. */
  withLock<T>(name: string, fn: () => Promise<T>, options?: { waitMs?: number }): Promise<T>;
}

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
  constructor(readonly lock: string) {
    super(`another process is syncing ${lock}; try again when it has finished`);
  }
}

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

export class RedisLocker implements Locker {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'audience-sync:lock:',
    /** Lease length; renewed at a third of it while the holder runs, so a dead holder frees it soon. */
    private readonly leaseMs = 30_000,
  ) {}

  async withLock<T>(name: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    const key = this.prefix + name;
    const token = randomBytes(12).toString('hex');
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      const ok = await this.redis.set(key, token, 'PX', this.leaseMs, 'NX');
      if (ok === 'OK') break;
      if (Date.now() >= deadline) throw new LockBusyError(name);
      await new Promise((r) => setTimeout(r, 250));
    }
    const renew = setInterval(
      () => {
        this.redis.eval(RENEW, 1, key, token, String(this.leaseMs)).catch(() => {});
      },
      Math.floor(this.leaseMs / 3),
    );
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.redis.eval(RELEASE, 1, key, token).catch(() => {});
    }
  }
}

/** In-process lock for runs without Redis. */
export class LocalLocker implements Locker {
  private readonly held = new Set<string>();

  async withLock<T>(name: string, fn: () => Promise<T>, options: { waitMs?: number } = {}): Promise<T> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    while (this.held.has(name)) {
      if (Date.now() >= deadline) throw new LockBusyError(name);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.held.add(name);
    try {
      return await fn();
    } finally {
      this.held.delete(name);
    }
  }
}
