import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest';
import { createConnectorContext } from '../../connectors/core/context.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { CliError } from '../../src/cli/output.js';
import { connectLockRedis } from '../../src/cli/stage-context.js';
import { log as rootLog } from '../../src/log.js';
import { keys } from '../../src/storage/keys.js';
import { readJson } from '../../src/storage/object-store.js';
import { syncAudience } from '../../src/sync/execute.js';
import {
  type Lease,
  LockBusyError,
  type Locker,
  LockLostError,
  RedisLocker,
  type RedisLockerOptions,
} from '../../src/sync/lock.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { startFakeMeta } from '../fakes/meta.js';
import { createFsTestStore, uniqueName } from '../helpers/stores.js';
import { personFor, treatment, writeDay } from './helpers.js';

/**
 * RedisLocker against the real Redis: mutual exclusion, release, lost leases, and the first command
 * of a fresh client without an offline queue (it used to fail at random with "Stream isn't writeable
 * and enableOfflineQueue options is false" when sent before the connection was ready).
 */

const redisUrl = inject('redisUrl');
const db10Url = (() => {
  const url = new URL(redisUrl);
  url.pathname = '/10';
  return url.toString();
})();

/** The options `audience-sync` CLI commands used for their lock connection before the fix. */
const shortCommandClient = (url: string) => {
  const client = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 1000, enableOfflineQueue: false });
  client.on('error', () => {});
  return client;
};

function fakeLog() {
  return { warn: vi.fn(), error: vi.fn() } as unknown as NonNullable<RedisLockerOptions['log']> & {
    warn: ReturnType<typeof vi.fn>;
    error: ReturnType<typeof vi.fn>;
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('RedisLocker', () => {
  let admin: Redis;
  let admin10: Redis;
  let prefix: string;
  const clients: Redis[] = [];
  const leases: Lease[] = [];
  const client = (url = redisUrl) => {
    const c = shortCommandClient(url);
    clients.push(c);
    return c;
  };
  const hold = (lease: Lease) => {
    leases.push(lease);
    return lease;
  };

  beforeAll(() => {
    admin = new Redis(redisUrl);
    admin10 = new Redis(db10Url);
  });

  afterAll(() => {
    admin.disconnect();
    admin10.disconnect();
  });

  beforeEach(() => {
    prefix = `${uniqueName('locktest')}:lock:`;
  });

  afterEach(async () => {
    for (const lease of leases.splice(0)) await lease.release();
    for (const c of clients.splice(0)) c.disconnect();
    for (const r of [admin, admin10]) {
      const keys = await r.keys(`${prefix}*`);
      if (keys.length) await r.del(...keys);
    }
  });

  it('a second locker cannot take a held lock; release lets it', async () => {
    const first = new RedisLocker(client(), prefix);
    const second = new RedisLocker(client(), prefix);
    const lease = hold(await first.acquire('meta.buyers'));
    expect(await admin.exists(`${prefix}meta.buyers`)).toBe(1);

    await expect(second.acquire('meta.buyers')).rejects.toBeInstanceOf(LockBusyError);
    const fn = vi.fn(async () => 'ran');
    await expect(second.withLock('meta.buyers', fn)).rejects.toBeInstanceOf(LockBusyError);
    expect(fn).not.toHaveBeenCalled();
    // Another name is another lock.
    hold(await second.acquire('google.buyers'));

    await lease.release();
    expect(await admin.exists(`${prefix}meta.buyers`)).toBe(0);
    const next = hold(await second.acquire('meta.buyers'));
    expect(next.lost).toBe(false);
    expect(() => next.assertHeld()).not.toThrow();
  });

  it('waits up to waitMs for the holder to release', async () => {
    const first = new RedisLocker(client(), prefix);
    const second = new RedisLocker(client(), prefix);
    const lease = await first.acquire('meta.buyers');
    setTimeout(() => void lease.release(), 300);
    const started = Date.now();
    hold(await second.acquire('meta.buyers', { waitMs: 5_000 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('withLock gives fn the held lock and releases it when fn throws', async () => {
    const locker = new RedisLocker(client(), prefix);
    await expect(
      locker.withLock('meta.buyers', async (held) => {
        expect(held.lost).toBe(false);
        expect(await admin.exists(`${prefix}meta.buyers`)).toBe(1);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await admin.exists(`${prefix}meta.buyers`)).toBe(0);
  });

  it('renews the lease while held, so it outlives leaseMs and stays exclusive', async () => {
    const first = new RedisLocker(client(), prefix, { leaseMs: 300 });
    const second = new RedisLocker(client(), prefix, { leaseMs: 300 });
    const lease = hold(await first.acquire('meta.buyers'));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(lease.lost).toBe(false);
    expect(await admin.pttl(`${prefix}meta.buyers`)).toBeGreaterThan(0);
    await expect(second.acquire('meta.buyers')).rejects.toBeInstanceOf(LockBusyError);
  });

  it('reports a lock taken over by another holder as lost on renewal, and its release keeps the new key', async () => {
    const log = fakeLog();
    const locker = new RedisLocker(client(), prefix, { leaseMs: 300, log });
    const lease = hold(await locker.acquire('meta.buyers'));
    await admin.set(`${prefix}meta.buyers`, 'someone-else', 'PX', 10_000);
    await until(() => lease.lost, 'the lease to be reported lost');
    expect(() => lease.assertHeld()).toThrow(LockLostError);
    expect(() => lease.assertHeld()).toThrow(/taken over/);
    expect(log.error).toHaveBeenCalledTimes(1);
    await lease.release();
    expect(await admin.get(`${prefix}meta.buyers`)).toBe('someone-else');
  });

  it('reports a lock whose key was deleted as lost', async () => {
    const locker = new RedisLocker(client(), prefix, { leaseMs: 300, log: fakeLog() });
    const lease = hold(await locker.acquire('meta.buyers'));
    await admin.del(`${prefix}meta.buyers`);
    await until(() => lease.lost, 'the lease to be reported lost');
    expect(() => lease.assertHeld()).toThrow(LockLostError);
  });

  it('reports failed renewals (logged) and a lease that could not be renewed in time as lost', async () => {
    const log = fakeLog();
    const c = client();
    const locker = new RedisLocker(c, prefix, { leaseMs: 300, log });
    const lease = hold(await locker.acquire('meta.buyers'));
    c.disconnect();
    await until(() => log.warn.mock.calls.length > 0, 'a renewal failure to be logged');
    expect(log.warn.mock.calls[0]![1]).toMatch(/could not renew/);
    await until(() => lease.lost, 'the lease to be reported lost', 2_000);
    expect(() => lease.assertHeld()).toThrow(/not renewed within/);
  });

  it('a fresh client without an offline queue, on a database index, acquires at once (20 fresh clients)', async () => {
    for (let i = 0; i < 20; i++) {
      const c = client(db10Url);
      const locker = new RedisLocker(c, prefix);
      const lease = await locker.acquire(`meta.buyers-${i}`);
      expect(lease.lost).toBe(false);
      expect(await admin10.exists(`${prefix}meta.buyers-${i}`)).toBe(1);
      await lease.release();
      expect(await admin10.exists(`${prefix}meta.buyers-${i}`)).toBe(0);
      c.disconnect();
    }
  });

  it('connectLockRedis (the CLI lock connection) is ready before its first command (20 fresh clients)', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await connectLockRedis(db10Url);
      clients.push(c);
      expect(c.status).toBe('ready');
      // The raw command, not through the locker's own wait: it would have raced before.
      expect(await c.set(`${prefix}raw-${i}`, 'x', 'PX', 5_000, 'NX')).toBe('OK');
      const lease = await new RedisLocker(c, prefix).acquire(`meta.buyers-${i}`);
      await lease.release();
      c.disconnect();
    }
    expect(await admin10.exists(`${prefix}raw-0`)).toBe(1);
  });

  it('connectLockRedis fails with a clear error naming Redis but not the password', async () => {
    const error = await connectLockRedis('redis://:s3cret-pass@127.0.0.1:1/10', 800).catch((e) => e);
    expect(error).toBeInstanceOf(CliError);
    expect(error.message).toMatch(/^Redis at 127\.0\.0\.1:1\/10 /);
    expect(error.message).not.toContain('s3cret-pass');
  });
});

describe('a sync whose lock is lost', () => {
  it('stops before the next batch without writing a failed record, and the next run resumes it', async () => {
    const fake = await startFakeMeta();
    const t = await createFsTestStore();
    try {
      const ctx = createConnectorContext(metaConnector, {
        destination: 'meta',
        config: { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token', batch_size: 10 },
        env: { META_GRAPH_URL: fake.url },
        log: rootLog,
        sleep: async () => {},
      });
      const persons = Array.from({ length: 25 }, (_, i) => personFor(i));
      await writeDay(t.store, '2026-11-27', 'high_intent', persons, treatment(persons));
      let lost = false;
      // A locker whose lock is lost once the first batch is confirmed (a renewal saw another holder).
      const losing: Locker = {
        withLock: (name, fn) =>
          fn({
            name,
            get lost() {
              return lost;
            },
            assertHeld() {
              if (lost) throw new LockLostError(name, 'its key was deleted or taken over by another holder');
            },
            async confirm() {
              this.assertHeld();
            },
          }),
      };
      const input = {
        store: t.store,
        audienceId: 'high_intent',
        day: '2026-11-27',
        destination: 'meta',
        connector: metaConnector,
        ctx,
        mode: { kind: 'audience' as const },
        runId: '2026-11-27',
      };
      const error = await syncAudience({
        ...input,
        locker: losing,
        onProgress: (p) => {
          if (p.phase === 'push' && p.done === 1) lost = true;
        },
      }).catch((e) => e);
      expect(error).toBeInstanceOf(LockLostError);
      expect(error.message).toMatch(/lost the sync lock meta\.high_intent/);
      const record = await readJson<SyncRunRecord>(
        t.store,
        keys.syncRun('meta', 'high_intent', '2026-11-27'),
      );
      expect(record.status).toBe('running');
      expect(record.batches).toHaveLength(1);
      // The run report says why it stopped, and where the next run picks up.
      expect(record.lock_lost).toEqual([
        expect.objectContaining({ reason: expect.stringMatching(/taken over/), next_batch: 1 }),
      ]);

      const resumed = await syncAudience(input);
      expect(resumed.run_id).toBe('2026-11-27');
      expect(resumed.status).toBe('completed');
      expect(resumed.resumed).toHaveLength(1);
      const audience = [...fake.state.audiences.values()].find((a) => !a.deleted)!;
      expect(audience.members.size).toBe(25);
    } finally {
      await fake.close();
      await t.cleanup();
    }
  });
});

const LOCKED_CHILD = new URL('../redis/locked-sync-child.ts', import.meta.url).pathname;

describe('syncs holding the sync lock', () => {
  let fake: Awaited<ReturnType<typeof startFakeMeta>>;
  let t: Awaited<ReturnType<typeof createFsTestStore>>;
  let admin: Redis;
  let prefix: string;
  const uploads = () => fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
  const metaContext = () =>
    createConnectorContext(metaConnector, {
      destination: 'meta',
      config: { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token', batch_size: 10 },
      env: { META_GRAPH_URL: fake.url },
      log: rootLog,
      sleep: async () => {},
    });

  beforeEach(async () => {
    fake = await startFakeMeta();
    t = await createFsTestStore();
    admin = new Redis(redisUrl);
    prefix = `${uniqueName('locktest')}:lock:`;
  });
  afterEach(async () => {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    admin.disconnect();
    await fake.close();
    await t.cleanup();
  });

  it('a holder whose lock was taken over stops before its next batch; the run report says so with its fencing token', async () => {
    const persons = Array.from({ length: 35 }, (_, i) => personFor(i));
    await writeDay(t.store, '2026-11-27', 'high_intent', persons, treatment(persons));
    const lockClient = await connectLockRedis(redisUrl);
    // A long lease: no renewal happens during the run, so only the check before each batch can notice.
    const locker = new RedisLocker(lockClient, prefix, { leaseMs: 60_000, log: fakeLog() });
    try {
      const error = await syncAudience({
        store: t.store,
        audienceId: 'high_intent',
        day: '2026-11-27',
        destination: 'meta',
        connector: metaConnector,
        ctx: metaContext(),
        mode: { kind: 'audience' },
        runId: '2026-11-27',
        locker,
        onProgress: (p) => {
          // Another holder takes the key over once the first batch is confirmed (as after an expiry).
          if (p.phase === 'push' && p.done === 1)
            void admin.set(`${prefix}meta.high_intent`, '999:someone-else');
        },
      }).catch((e) => e);
      expect(error).toBeInstanceOf(LockLostError);
      expect(uploads()).toHaveLength(1);
      const record = await readJson<SyncRunRecord>(
        t.store,
        keys.syncRun('meta', 'high_intent', '2026-11-27'),
      );
      expect(record.status).toBe('running');
      expect(record.fencing_token).toBeGreaterThan(0);
      expect(record.lock_lost).toEqual([
        expect.objectContaining({
          next_batch: 1,
          fencing_token: record.fencing_token,
          reason: expect.stringMatching(/taken over/),
        }),
      ]);
      // The other holder's key is left alone.
      expect(await admin.get(`${prefix}meta.high_intent`)).toBe('999:someone-else');
    } finally {
      lockClient.disconnect();
    }
  });

  // Without Redis (a CLI run on one machine), the machine's lock (host-lock.ts) must exclude the
  // other process just as Redis does: with an in-process lock both would send every batch.
  it.each([
    ['the Redis lock', redisUrl],
    ['no Redis: the machine lock', 'none'],
  ])(
    'two processes syncing the same audience × destination at once, %s: exactly one sends',
    async (_, url) => {
      const persons = Array.from({ length: 60 }, (_, i) => personFor(i));
      await writeDay(t.store, '2026-11-28', 'high_intent', persons, treatment(persons));
      // Slow uploads: the first holder keeps the lock for a while after both have started.
      fake.controls.setLatency(80);
      const children = [0, 1].map(() => {
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', LOCKED_CHILD, t.root, fake.url, '2026-11-28', url, prefix],
          {
            stdio: ['pipe', 'pipe', 'pipe'],
            env: { ...process.env, LOG_LEVEL: 'silent' },
          },
        );
        const lines = createInterface({ input: child.stdout! });
        const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()));
        const result = new Promise<Record<string, unknown>>((resolve, reject) => {
          let last = '';
          lines.on('line', (line) => {
            last = line;
          });
          child.once('exit', (code) => {
            try {
              resolve(JSON.parse(last) as Record<string, unknown>);
            } catch {
              reject(new Error(`child exited ${code} without a result`));
            }
          });
        });
        child.stderr!.resume();
        return { child, ready, result };
      });
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.child.stdin!.write('go\n');
      const results = await Promise.all(children.map((c) => c.result));

      const sent = results.filter((r) => r.status === 'completed');
      const busy = results.filter((r) => r.error === 'LockBusyError');
      expect(sent).toHaveLength(1);
      expect(busy).toHaveLength(1);
      // Six batches of ten, each sent once, to one audience.
      expect(uploads()).toHaveLength(6);
      expect([...fake.state.audiences.values()].filter((a) => !a.deleted)).toHaveLength(1);
      expect([...fake.state.audiences.values()][0]!.members.size).toBe(60);
    },
  );
});
