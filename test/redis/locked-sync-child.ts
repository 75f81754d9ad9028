/**
 * One Meta sync in its own process holding the sync lock, for the "two processes at once" tests.
 * It loads everything, prints `ready`, waits for a line on stdin (so that two of them start their
 * syncs together), syncs, and prints one JSON line: its run summary or why it did not sync.
 * argv: <store root> <fake Graph URL> <day> <redis url> <lock prefix>; a redis url of `none` takes
 * the lock a CLI run without Redis takes (lockerWithoutRedis).
 */
import { createInterface } from 'node:readline';
import { createConnectorContext } from '../../connectors/core/context.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { createLogger } from '../../src/log.js';
import { connectCommandClient } from '../../src/redis/clients.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { syncAudience } from '../../src/sync/execute.js';
import { lockerWithoutRedis } from '../../src/sync/host-lock.js';
import { RedisLocker } from '../../src/sync/lock.js';

const [root, graphUrl, day, redisUrl, prefix] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const log = createLogger({ level: 'silent' });
const redis = redisUrl === 'none' ? undefined : await connectCommandClient(redisUrl, { logger: log });
const store = new FsObjectStore(root);
const ctx = createConnectorContext(metaConnector, {
  destination: 'meta',
  config: { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token', batch_size: 10 },
  env: { META_GRAPH_URL: graphUrl },
  log,
});
process.stdout.write('ready\n');
const go = createInterface({ input: process.stdin });
await new Promise<void>((resolve) => go.once('line', () => resolve()));
go.close();
process.stdin.destroy();
try {
  const record = await syncAudience({
    store,
    audienceId: 'high_intent',
    day,
    destination: 'meta',
    connector: metaConnector,
    ctx,
    mode: { kind: 'audience' },
    runId: day,
    locker: redis ? new RedisLocker(redis, prefix, { log }) : lockerWithoutRedis(store.location),
    log,
  });
  process.stdout.write(
    `${JSON.stringify({ status: record.status, requests: record.requests, fencing_token: record.fencing_token })}\n`,
  );
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: (error as Error).name, message: (error as Error).message })}\n`,
  );
} finally {
  redis?.disconnect();
}
