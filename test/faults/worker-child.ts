/**
 * The worker process the fault suite kills with SIGKILL. Configured like the product, from the
 * environment only (REDIS_URL, STORE_URL, S3_ENDPOINT, META_GRAPH_URL, QUEUE_PREFIX, CONFIG, ...), so
 * every connection goes through the suite's fault proxies.
 *
 *   node --import tsx worker-child.ts export   drains the ingest buffers once (FAULT_INGEST_PREFIX), then exits
 *   node --import tsx worker-child.ts worker   runs every refresh processor until it is killed
 *
 * `AUDIENCE_SYNC_FAULT=compaction:<point>` (src/compaction/fault.ts) makes it kill itself at a
 * named compaction point; the suite's other kill points are chosen by request count in the proxy.
 */
import { getEnv } from '../../src/config/env.js';
import { drainBuffers } from '../../src/export/drain.js';
import { createLogger } from '../../src/log.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { startWorkers } from '../../src/pipeline/worker.js';
import { openStore } from '../../src/storage/open-store.js';
import { EXPORT_CHUNK_RECORDS, EXPORT_LEASE_MS, KILL_WORKER_TIMINGS, shortSleep } from './timings.js';

const mode = process.argv[2];
const env = getEnv();
const store = openStore(env.STORE_URL, env);
const connection = createBullConnection(env.REDIS_URL);
const log = createLogger({ level: 'silent' });

if (mode === 'export') {
  const results = await drainBuffers({
    redis: connection,
    store,
    prefix: process.env.FAULT_INGEST_PREFIX ?? env.QUEUE_PREFIX,
    chunkRecords: EXPORT_CHUNK_RECORDS,
    lockTtlMs: EXPORT_LEASE_MS,
  });
  process.stdout.write(`${JSON.stringify(results.map((r) => [r.dataset, r.status, r.written]))}\n`);
  connection.disconnect();
  await store.close();
} else if (mode === 'worker') {
  await startWorkers({
    connection,
    prefix: env.QUEUE_PREFIX,
    env,
    store,
    log,
    sleep: shortSleep,
    ...KILL_WORKER_TIMINGS,
  });
  process.stdout.write('ready\n');
  await new Promise(() => {}); // until SIGKILL
} else {
  process.stderr.write(`usage: worker-child.ts export|worker (got ${mode})\n`);
  process.exit(2);
}
