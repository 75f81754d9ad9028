import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { waitForRedisReady } from './ready.js';
import { scrubRedisSecrets } from './scrub.js';

/**
 * A fenced lease in one Redis: the lock under the sync of an audience × destination and under the
 * export of a dataset.
 *
 * Why not a library: `redlock` is the well-known one, but its last stable release (4.2.0) targets
 * ioredis 4 and its 5.x line has stayed in beta since 2022; it issues no fencing token; and its
 * multi-master algorithm buys nothing with the single Redis (or primary) this project runs on.
 * What is needed fits in three short Lua scripts, tested against a real Redis in
 * test/redis/lock.test.ts.
 *
 * The contract (docs/operations.md#sync-locks-and-fencing):
 *  - acquire is atomic: the key is free, then a per-key counter (`<key>:fence`, never expiring) is
 *    incremented and the key set to `<fence>:<random>` with a TTL of `leaseMs`. The fencing token
 *    is that counter: every holder gets a larger one than every holder before it;
 *  - while held, the lease is renewed every third of `leaseMs` — only if the key still holds our
 *    value. A renewal that finds another value (taken over, deleted, expired and re-acquired)
 *    marks the lease lost at once; renewals that fail (Redis unreachable) mark it lost once a whole
 *    lease has passed since the last confirmed renewal, because the key may have expired then;
 *  - `confirm()` is the same check as a renewal, made on demand: a holder calls it before each step
 *    that must not run twice at once (a sync batch, an export chunk), so a holder that lost the
 *    lock — even without having noticed through a renewal yet — stops before its next step;
 *  - release deletes the key only if it still holds our value.
 *
 * Times are measured with the monotonic clock: a wall-clock jump must not stretch a lease.
 */

const ACQUIRE = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
local fence = redis.call('incr', KEYS[2])
redis.call('set', KEYS[1], fence .. ':' .. ARGV[1], 'PX', ARGV[2])
return fence`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface FencedLeaseOptions {
  /** Lease length: a holder that dies frees the lock after at most this long. */
  leaseMs: number;
  /** How long the first command may wait for a client without an offline queue to be ready. */
  readyTimeoutMs?: number;
  /** Renewal failures (warn) and losses (error) are logged with `what` as the lock's name. */
  log: Pick<Logger, 'warn' | 'error'>;
  what: string;
}

export interface FencedLease {
  readonly key: string;
  /** Larger for every new holder of this key: orders holders even across expiry and Redis restarts with AOF. */
  readonly fencingToken: number;
  /** Why the lease can no longer be vouched for, or undefined while it is held. Checks expiry. */
  readonly lostReason: string | undefined;
  /** Asks Redis whether the key still holds this lease (and extends it); resolves to `lostReason`. */
  confirm(): Promise<string | undefined>;
  /** Stops renewing and deletes the key if it is still ours; never throws. */
  release(): Promise<void>;
}

/** Rejects when `promise` has not settled within `ms`: a command on a client that waits through reconnects must not stall a holder. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One attempt: the lease, or null when another holder has the key. */
export async function tryAcquireFencedLease(
  redis: Redis,
  key: string,
  options: FencedLeaseOptions,
): Promise<FencedLease | null> {
  const { leaseMs, log, what } = options;
  if (redis.status !== 'ready' && redis.options.enableOfflineQueue === false) {
    await waitForRedisReady(redis, options.readyTimeoutMs ?? 5_000);
  }
  const nonce = randomBytes(12).toString('hex');
  const sentAt = performance.now();
  const fence = Number(
    await within(redis.eval(ACQUIRE, 2, key, `${key}:fence`, nonce, String(leaseMs)), leaseMs, 'acquire'),
  );
  if (!fence) return null;
  const value = `${fence}:${nonce}`;
  const errorText = (error: unknown) =>
    scrubRedisSecrets(error instanceof Error ? error.message : String(error), redis.options);

  // The lease runs from when the last successful SET / PEXPIRE was *sent*: past it the key may have
  // expired and been taken by another holder, whatever the reply said later.
  let confirmedAt = sentAt;
  let lostReason: string | undefined;
  let lastError: string | undefined;
  let released = false;
  const markLost = (reason: string) => {
    if (lostReason || released) return;
    lostReason = reason;
    clearInterval(renewal);
    log.error({ lock: what, fencing_token: fence, reason }, 'lock lost');
  };
  const checkExpiry = () => {
    if (!lostReason && performance.now() - confirmedAt >= leaseMs) {
      markLost(`not renewed within its ${leaseMs} ms lease${lastError ? ` (${lastError})` : ''}`);
    }
  };
  /**
   * `beforeStep`: the holder is about to start work that must not overlap another holder's. If Redis
   * could not answer and less than a third of the lease is left, that work could outlive the lease:
   * the lease is then given up rather than risked.
   */
  const check = async (beforeStep: boolean): Promise<string | undefined> => {
    checkExpiry();
    if (lostReason || released) return lostReason;
    const at = performance.now();
    try {
      const answer = await within(
        redis.eval(RENEW, 1, key, value, String(leaseMs)),
        Math.max(1, leaseMs - (at - confirmedAt)),
        'renew',
      );
      if (answer === 1) {
        confirmedAt = Math.max(confirmedAt, at);
        lastError = undefined;
      } else markLost('its key was deleted or taken over by another holder');
    } catch (error) {
      lastError = errorText(error);
      log.warn({ lock: what, fencing_token: fence, err: lastError }, 'could not renew the lock; retrying');
      if (beforeStep && performance.now() - confirmedAt > (leaseMs * 2) / 3) {
        markLost(
          `could not be confirmed with less than a third of its ${leaseMs} ms lease left (${lastError})`,
        );
      }
    }
    checkExpiry();
    return lostReason;
  };

  let renewing = false;
  const renewal = setInterval(
    () => {
      if (renewing) return;
      renewing = true;
      void check(false).finally(() => {
        renewing = false;
      });
    },
    Math.max(1, Math.floor(leaseMs / 3)),
  );
  // A lease never keeps the process alive: a holder that is done (or crashed) lets it expire.
  renewal.unref();

  return {
    key,
    fencingToken: fence,
    get lostReason() {
      checkExpiry();
      return lostReason;
    },
    confirm: () => check(true),
    async release() {
      if (released) return;
      released = true;
      clearInterval(renewal);
      try {
        await within(redis.eval(RELEASE, 1, key, value), leaseMs, 'release');
      } catch (error) {
        // The lease still expires on its own; the next holder waits at most that long.
        log.warn(
          { lock: what, fencing_token: fence, err: errorText(error) },
          'could not release the lock; it expires with its lease',
        );
      }
    },
  };
}
