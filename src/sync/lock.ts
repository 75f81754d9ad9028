import type { Redis } from 'ioredis';
import { type Logger, log as rootLogger } from '../log.js';
import { type FencedLease, tryAcquireFencedLease } from '../redis/lock.js';

/**
 * One sync per audience × destination at a time, across every worker: two jobs on one Google list
 * fail with CONCURRENT_MODIFICATION, and two find-or-creates of one Meta audience would create two.
 * With Redis the lock is shared by all processes (a fenced lease, src/redis/lock.ts); without it
 * (a one-machine CLI run) it is local.
 */
export interface Locker {
  /**
   * Runs `fn` holding the lock; throws `LockBusyError` if another holder keeps it past `waitMs`.
   * `fn` gets the held lock and calls `confirm()` before each step that must not run twice at once.
   */
  withLock<T>(name: string, fn: (held: HeldLock) => Promise<T>, options?: LockOptions): Promise<T>;
}

export interface LockOptions {
  /** How long to wait for another holder (default: not at all). */
  waitMs?: number;
  /** What the holder does, for the busy error: "another process is <doing>" (default: syncing <name>). */
  doing?: string;
}

export interface HeldLock {
  readonly name: string;
  /** Larger for every new holder of this lock (absent for local locks): recorded in run reports. */
  readonly fencingToken?: number;
  /** True once the lock can no longer be vouched for: taken over, deleted, or not renewed within its lease. */
  readonly lost: boolean;
  /** Throws `LockLostError` when the lock is known to be lost (no round trip). */
  assertHeld(): void;
  /** Asks Redis whether the lock is still ours; throws `LockLostError` when it is not. */
  confirm(): Promise<void>;
}

export interface Lease extends HeldLock {
  /** Stops renewing and deletes the key if it is still ours. */
  release(): Promise<void>;
}

export class LockBusyError extends Error {
  override readonly name = 'LockBusyError';
  constructor(
    readonly lock: string,
    doing = `syncing ${lock}`,
  ) {
    super(`another process is ${doing}; try again when it has finished`);
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

export interface RedisLockerOptions {
  /** Lease length; renewed at a third of it while the holder runs, so a dead holder frees it soon. */
  leaseMs?: number;
  /** How long the first command waits for a client without an offline queue to become ready. */
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

  async withLock<T>(name: string, fn: (held: HeldLock) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const lease = await this.acquire(name, options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /** Takes the lock (waiting up to `waitMs` for another holder) and renews it until released. */
  async acquire(name: string, options: LockOptions = {}): Promise<Lease> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    for (;;) {
      const lease = await tryAcquireFencedLease(this.redis, this.prefix + name, {
        leaseMs: this.leaseMs,
        readyTimeoutMs: this.readyTimeoutMs,
        log: this.log,
        what: `sync ${name}`,
      });
      if (lease) return heldLease(name, lease);
      if (Date.now() >= deadline) throw new LockBusyError(name, options.doing);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function heldLease(name: string, lease: FencedLease): Lease {
  return {
    name,
    fencingToken: lease.fencingToken,
    get lost() {
      return lease.lostReason !== undefined;
    },
    assertHeld() {
      const reason = lease.lostReason;
      if (reason) throw new LockLostError(name, reason);
    },
    async confirm() {
      const reason = await lease.confirm();
      if (reason) throw new LockLostError(name, reason);
    },
    release: () => lease.release(),
  };
}

/** In-process lock for runs without Redis. */
export class LocalLocker implements Locker {
  private readonly held = new Set<string>();

  async withLock<T>(name: string, fn: (held: HeldLock) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const deadline = Date.now() + (options.waitMs ?? 0);
    while (this.held.has(name)) {
      if (Date.now() >= deadline) throw new LockBusyError(name, options.doing);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.held.add(name);
    try {
      return await fn({ name, lost: false, assertHeld() {}, async confirm() {} });
    } finally {
      this.held.delete(name);
    }
  }
}
