import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { type HeldLock, LocalLocker, LockBusyError, type Locker, type LockOptions } from './lock.js';

/**
 * Locks shared by every process on this machine, for CLI runs without Redis: two `audience-sync
 * sync` (or `refresh --inline`) processes on one store must not sync one audience × destination,
 * or compact one day, at the same time, and an in-process lock does not see the other process.
 *
 * A held lock is a listening socket in Linux's abstract namespace, named after the store and the
 * lock. Binding a name that another socket holds fails (EADDRINUSE), and the kernel frees the name
 * when its process ends, however it ends: a killed holder leaves no stale lock behind, unlike a
 * lock file, so there is no staleness rule to get wrong. The name is a hash (no store path or
 * audience id in it) and nothing is ever read from the socket.
 *
 * Scope: one machine (one network namespace: containers each have their own). Processes on
 * several machines need Redis (RedisLocker).
 */
export class HostLocker implements Locker {
  /** `scope`: what the locks protect (the store's location), so two stores never share a lock. */
  constructor(
    private readonly scope: string,
    private readonly pollMs = 250,
  ) {}

  async withLock<T>(name: string, fn: (held: HeldLock) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const address = hostLockAddress(this.scope, name);
    const deadline = Date.now() + (options.waitMs ?? 0);
    let server = await tryBind(address);
    while (!server) {
      if (Date.now() >= deadline) throw new LockBusyError(name, options.doing);
      await new Promise((r) => setTimeout(r, this.pollMs));
      server = await tryBind(address);
    }
    try {
      return await fn({ name, lost: false, assertHeld() {}, async confirm() {} });
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

/** The abstract socket name of lock `name` over `scope` (a leading NUL: not a file). */
export function hostLockAddress(scope: string, name: string): string {
  const digest = createHash('sha256').update(`${scope}\0${name}`).digest('hex').slice(0, 40);
  return `\0audience-sync-lock-${digest}`;
}

/** Binds `address`; undefined when another socket holds it. */
function tryBind(address: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    // A connection to a lock carries nothing: close it at once.
    const server = createServer((socket) => socket.destroy());
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') resolve(undefined);
      else reject(error);
    });
    server.listen(address, () => {
      // Holding a lock must not keep the process alive by itself.
      server.unref();
      // A failed accept of a stray connection must not crash the holder: the lock is the bound name.
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/**
 * The locker for runs without Redis: shared by the machine's processes where the abstract socket
 * namespace exists (Linux, as in the image), otherwise local to the process.
 */
export function lockerWithoutRedis(scope: string): Locker {
  return process.platform === 'linux' ? new HostLocker(scope) : new LocalLocker();
}
