import type { Command } from 'commander';
import { getEnv } from '../../config/env.js';
import { loadAudienceSyncConfig } from '../../config-file.js';
import { log } from '../../log.js';
import { startExportWorkers } from '../../pipeline/export-worker.js';
import { upsertHealthSchedule } from '../../pipeline/health-queue.js';
import { createBullConnection, evictionPolicyWarning, probeRedis } from '../../pipeline/redis.js';
import { startWorkers, upsertSchedule } from '../../pipeline/worker.js';
import { redactRedisUrl } from '../../redis/scrub.js';
import { openStore } from '../../storage/open-store.js';
import { CliError, EXIT } from '../output.js';
import { loadIngestSettings } from './ingest-config.js';

/** `audience-sync worker`: every BullMQ processor, the daily schedule, graceful shutdown. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the BullMQ processors (refresh stages and syncs) and install the daily schedule')
    .option('--concurrency <n>', 'refresh jobs processed at once', '2')
    .option('--shutdown-timeout <seconds>', 'how long SIGTERM waits for active jobs', '30')
    .action(async (opts: { concurrency: string; shutdownTimeout: string }) => {
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      if (!(await probeRedis(env.REDIS_URL, 2000))) {
        throw new CliError(
          `Redis is not answering at ${redactRedisUrl(env.REDIS_URL)}; the worker needs it (use refresh --inline without Redis)`,
          EXIT.failed,
        );
      }
      const connection = createBullConnection(env.REDIS_URL);
      const policy = await evictionPolicyWarning(connection);
      if (policy)
        log.warn(
          { maxmemory_policy: policy },
          'Redis should run with maxmemory-policy noeviction: queued jobs may be evicted',
        );
      const store = openStore(env.STORE_URL, env);
      const pipeline = { connection, prefix: env.QUEUE_PREFIX };
      await upsertSchedule(pipeline, loaded.config.schedule);
      await upsertHealthSchedule(pipeline, loaded.config.health.every_minutes);
      const running = await startWorkers({
        ...pipeline,
        env,
        store,
        log,
        concurrency: Number(opts.concurrency) || 2,
      });
      // Export (ingest buffers → raw partitions) and the Customer.io Data Out import run here too.
      const exporting = await startExportWorkers({
        ...pipeline,
        ingestPrefix: env.QUEUE_PREFIX,
        env,
        store,
        logger: log,
        importConfig: async () => (await loadIngestSettings(env)).importConfig,
      });
      log.info(
        {
          queues: [...running.workers, ...exporting.workers].map((w) => w.name),
          schedule: loaded.config.schedule,
        },
        'worker started',
      );
      await new Promise<void>((resolve) => {
        const stop = async (signal: string) => {
          log.info({ signal }, 'worker stopping');
          const timeoutMs = (Number(opts.shutdownTimeout) || 30) * 1000;
          await Promise.all([running.close(timeoutMs), exporting.close()]);
          connection.disconnect();
          await store.close();
          resolve();
        };
        process.once('SIGTERM', () => void stop('SIGTERM'));
        process.once('SIGINT', () => void stop('SIGINT'));
      });
    });
}
