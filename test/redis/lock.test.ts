import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { acquireLease } from '../../src/export/redis-lock.js';
import { connectCommandClient } from '../../src/redis/clients.js';
import { type FencedLease, type FencedLeaseOptions, tryAcquireFencedLease } from '../../src/redis/lock.js';
import { uniqueName } from '../helpers/stores.js';

/**
 * The fenced lease under the sync and export locks, against the real Redis. Each property is
 * checked so that breaking it fails a test: a lock that is always "acquired", a renewal that does
 * not notice another holder, a confirm that does not ask Redis, fencing tokens that do not grow,
 * a release that deletes someone else's key.
 */

const redisUrl = inject('redisUrl');

async function until(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('fenced lease', () => {
  let admin: Redis;
  let key: string;
  const clients: Redis[] = [];
  const leases: FencedLease[] = [];
  const log = () => ({ warn: vi.fn(), error: vi.fn() });
  const options = (over: Partial<FencedLeaseOptions> = {}): FencedLeaseOptions => ({
    leaseMs: 10_000,
    log: log(),
    what: 'test',
    ...over,
  });
  const client = async () => {
    const c = await connectCommandClient(redisUrl, { logger: { warn: () => {} } });
    clients.push(c);
    return c;
  };
  const acquire = async (c: Redis, over: Partial<FencedLeaseOptions> = {}) => {
    const lease = await tryAcquireFencedLease(c, key, options(over));
    if (lease) leases.push(lease);
    return lease;
  };

  beforeAll(() => {
    admin = new Redis(redisUrl);
  });
  afterAll(() => admin.disconnect());
  beforeEach(() => {
    key = `${uniqueName('leasetest')}:lock:meta.buyers`;
  });
  afterEach(async () => {
    for (const l of leases.splice(0)) await l.release();
    for (const c of clients.splice(0)) c.disconnect();
    await admin.del(key, `${key}:fence`);
  });

  it('is exclusive: of 20 clients racing for it, exactly one gets it', async () => {
    const racers = await Promise.all(Array.from({ length: 20 }, () => client()));
    const won = (await Promise.all(racers.map((c) => acquire(c)))).filter((l) => l !== null);
    expect(won).toHaveLength(1);
    // The key holds the winner's fencing token (and a random part only the winner knows).
    expect(await admin.get(key)).toMatch(new RegExp(`^${won[0]!.fencingToken}:[0-9a-f]{24}$`));
    expect(await acquire(await client())).toBeNull();
  });

  it('issues a larger fencing token to every new holder, also after an expiry', async () => {
    const c = await client();
    const tokens: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lease = (await acquire(c))!;
      tokens.push(lease.fencingToken);
      await lease.release();
    }
    const short = (await acquire(c, { leaseMs: 100 }))!;
    tokens.push(short.fencingToken);
    // Renewals stop when the client goes away; the key expires; the next holder gets a larger token.
    c.disconnect();
    await until(() => short.lostReason !== undefined, 'the lease to expire');
    await new Promise((r) => setTimeout(r, 50));
    const next = (await acquire(await client()))!;
    tokens.push(next.fencingToken);
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b));
    expect(new Set(tokens).size).toBe(tokens.length);
    expect(Number(await admin.get(`${key}:fence`))).toBe(next.fencingToken);
  });

  it('renews itself, so it outlives leaseMs and stays exclusive', async () => {
    const lease = (await acquire(await client(), { leaseMs: 300 }))!;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(lease.lostReason).toBeUndefined();
    expect(await admin.pttl(key)).toBeGreaterThan(0);
    expect(await acquire(await client(), { leaseMs: 300 })).toBeNull();
  });

  it('a renewal notices another holder at once', async () => {
    const l = log();
    const lease = (await acquire(await client(), { leaseMs: 300, log: l }))!;
    await admin.set(key, '999:someone-else', 'PX', 10_000);
    await until(() => lease.lostReason !== undefined, 'a renewal to notice');
    expect(lease.lostReason).toMatch(/taken over/);
    expect(l.error).toHaveBeenCalledTimes(1);
  });

  it('confirm() asks Redis: a lost lock is noticed before the next step even when no renewal ran', async () => {
    // A lease so long that no renewal runs during the test.
    const lease = (await acquire(await client(), { leaseMs: 60_000 }))!;
    expect(await lease.confirm()).toBeUndefined();
    await admin.del(key);
    expect(lease.lostReason).toBeUndefined(); // nothing local could know yet
    expect(await lease.confirm()).toMatch(/deleted or taken over/);
    // And it stays lost, even if the key came back.
    await admin.set(key, 'whatever');
    expect(await lease.confirm()).toMatch(/deleted or taken over/);
  });

  it('confirm() extends the lease', async () => {
    const lease = (await acquire(await client(), { leaseMs: 60_000 }))!;
    await admin.pexpire(key, 1_000);
    expect(await lease.confirm()).toBeUndefined();
    expect(await admin.pttl(key)).toBeGreaterThan(50_000);
  });

  it('a lease that could not be renewed within its length is lost, and confirm() then says so without Redis', async () => {
    const c = await client();
    const l = log();
    const lease = (await acquire(c, { leaseMs: 300, log: l }))!;
    c.disconnect();
    await until(() => l.warn.mock.calls.length > 0, 'a renewal failure to be logged');
    await until(() => lease.lostReason !== undefined, 'the lease to be lost', 2_000);
    expect(lease.lostReason).toMatch(/not renewed within its 300 ms lease/);
    expect(await lease.confirm()).toBe(lease.lostReason);
  });

  it('release deletes only its own key', async () => {
    const lease = (await acquire(await client()))!;
    await admin.set(key, '999:someone-else');
    await lease.release();
    expect(await admin.get(key)).toBe('999:someone-else');
    await admin.del(key);
    const mine = (await acquire(await client()))!;
    await mine.release();
    expect(await admin.exists(key)).toBe(0);
  });

  it('the export lease is the same lock: exclusive, extend() false once taken over', async () => {
    const c = await client();
    const lease = (await acquireLease(c, key, 10_000))!;
    expect(lease).not.toBeNull();
    expect(await acquireLease(await client(), key, 10_000)).toBeNull();
    expect(await lease.extend()).toBe(true);
    expect(await admin.get(`${key}:fence`)).not.toBeNull();
    await admin.set(key, '999:someone-else');
    expect(await lease.extend()).toBe(false);
    await lease.release();
    expect(await admin.get(key)).toBe('999:someone-else');
  });
});
