import type { Command } from 'commander';
import { CliError, EXIT } from '../output.js';

/** `audience-sync worker`: every BullMQ processor, the daily schedule, graceful shutdown. */
export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('run the BullMQ processors (refresh stages and syncs) and install the daily schedule')
    .option('--concurrency <n>', 'refresh jobs processed at once', '2')
    .option('--shutdown-timeout <seconds>', 'how long SIGTERM waits for active jobs', '30')
    .action(async (opts: { concurrency: string; shutdownTimeout: string }) => {
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { log } = await import('../../log.js');
      const { startExportWorkers } = await import('../../pipeline/export-worker.js');
      const { upsertHealthSchedule } = await import('../../pipeline/health-queue.js');
      const { createBullConnection, evictionPolicyWarning, probeRedis } = await import(
        '../../pipeline/redis.js'
      );
      const { startWorkers, upsertSchedule } = await import('../../pipeline/worker.js');
      const { redactRedisUrl } = await import('../../redis/scrub.js');
      const { openStore } = await import('../../storage/open-store.js');
      const { loadIngestSettings } = await import('./ingest-config.js');
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
