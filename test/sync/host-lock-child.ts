/**
 * Takes a machine lock (host-lock.ts) and holds it until killed, for the test that a killed holder
 * leaves no stale lock. argv: <scope> <lock name>. Prints `held` once it holds the lock.
 */
import { HostLocker } from '../../src/sync/host-lock.js';

const [scope, name] = process.argv.slice(2) as [string, string];
await new HostLocker(scope).withLock(name, async () => {
  process.stdout.write('held\n');
  await new Promise(() => setInterval(() => {}, 60_000));
});
