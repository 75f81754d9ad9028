/**
 * A worker process for kill tests: the pipeline's workers (the real-time signal and flush queues
 * among them) on the environment it is given, with short job leases so that a test that kills it
 * sees its jobs picked up again within seconds. `AUDIENCE_SYNC_FAULT=realtime:<point>`
 * (src/fault-point.ts) makes it kill itself at that point. Usage: node --import tsx worker-child.ts
 * (CONFIG, REDIS_URL, QUEUE_PREFIX, STORE_URL and the platform URLs and tokens in the environment).
 */
import { parseEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/log.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { startWorkers } from '../../src/pipeline/worker.js';
import { openStore } from '../../src/storage/open-store.js';

const env = parseEnv(process.env);
await startWorkers({
  connection: createBullConnection(env.REDIS_URL),
  prefix: env.QUEUE_PREFIX,
  env,
  store: openStore(env.STORE_URL, env),
  log: createLogger({ level: 'silent' }),
  lockDurationMs: 2_000,
  stalledIntervalMs: 1_000,
});
process.stdout.write('ready\n');
