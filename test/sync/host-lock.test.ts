import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { compactDay } from '../../src/compaction/compact.js';
import { HostLocker, hostLockAddress, lockerWithoutRedis } from '../../src/sync/host-lock.js';
import { LockBusyError } from '../../src/sync/lock.js';
import { createFsTestStore, uniqueName } from '../helpers/stores.js';

/**
 * The machine lock CLI runs take without Redis: exclusive across lockers (and processes) for one
 * store and lock name, released when the holder finishes, throws, or is killed.
 */

const CHILD = new URL('./host-lock-child.ts', import.meta.url).pathname;

/** Resolves when `fn` holds lock `name`, with a function that lets it go. */
async function hold(locker: HostLocker, name: string) {
  let release!: () => void;
  let held!: () => void;
  const holding = new Promise<void>((r) => {
    held = r;
  });
  const done = locker.withLock(name, async () => {
    held();
    await new Promise<void>((r) => {
      release = r;
    });
  });
  await holding;
  return {
    release: async () => {
      release();
      await done;
    },
  };
}

describe('HostLocker', () => {
  it('a second locker of the same store cannot take a held lock; it can once the holder is done', async () => {
    const scope = `file:///${uniqueName('store')}`;
    const first = await hold(new HostLocker(scope), 'meta.high_intent');
    const other = new HostLocker(scope);
    await expect(other.withLock('meta.high_intent', async () => 'ran')).rejects.toBeInstanceOf(LockBusyError);
    // Another lock name, or the same name over another store, is free.
    await expect(other.withLock('google.high_intent', async () => 'ran')).resolves.toBe('ran');
    await expect(new HostLocker(`${scope}-2`).withLock('meta.high_intent', async () => 'ran')).resolves.toBe(
      'ran',
    );
    await first.release();
    await expect(other.withLock('meta.high_intent', async () => 'ran')).resolves.toBe('ran');
  });

  it('waits up to waitMs for the holder to finish, and releases the lock when fn throws', async () => {
    const scope = `file:///${uniqueName('store')}`;
    const first = await hold(new HostLocker(scope, 20), 'lock');
    setTimeout(() => void first.release(), 100);
    await expect(
      new HostLocker(scope, 20).withLock('lock', async () => 'ran', { waitMs: 5_000 }),
    ).resolves.toBe('ran');
    const failing = new HostLocker(scope).withLock('lock', async () => {
      throw new Error('boom');
    });
    await expect(failing).rejects.toThrow('boom');
    await expect(new HostLocker(scope).withLock('lock', async () => 'ran')).resolves.toBe('ran');
  });

  it('a compaction held by another process stops, saying so; once that holder is killed (SIGKILL) it runs at once', async () => {
    const t = await createFsTestStore();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, t.store.location, 'compaction-events-2026-11-27'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const lines = createInterface({ input: child.stdout! });
      await once(lines, 'line');
      const compact = () =>
        compactDay({
          store: t.store,
          dataset: 'events',
          day: '2026-11-27',
          locker: lockerWithoutRedis(t.store.location),
        });
      const busy = await compact().catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(LockBusyError);
      expect((busy as Error).message).toBe(
        'another process is compacting events of 2026-11-27; try again when it has finished',
      );
      child.kill('SIGKILL');
      await once(child, 'exit');
      // No stale lock: the kernel freed it with the process.
      expect((await compact()).status).toBe('nothing_to_do');
    } finally {
      child.kill('SIGKILL');
      await t.cleanup();
    }
  });

  it('names the lock by a hash: neither the store nor the lock name appears in the socket name', () => {
    const address = hostLockAddress('file:///srv/acme-store', 'meta.high_intent');
    expect(address.startsWith('\0audience-sync-lock-')).toBe(true);
    expect(address).not.toMatch(/acme|high_intent|meta/);
    expect(hostLockAddress('file:///srv/acme-store', 'meta.high_intent')).toBe(address);
    expect(lockerWithoutRedis('file:///srv/acme-store')).toBeInstanceOf(HostLocker);
  });
});
