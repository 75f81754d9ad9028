import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { RealtimeSignal } from '../../realtime/signals.js';

/**
 * `audience-sync serve`: the HTTP API on HOST:PORT. SIGTERM / SIGINT stop taking requests (new ones
 * get 503), wait for in-flight ones up to `--shutdown-timeout`, then close connections and exit.
 */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API (ingest, webhooks, health) on HOST:PORT')
    .option('--shutdown-timeout <seconds>', 'how long a stop waits for in-flight requests', '10')
    .action(async (opts: { shutdownTimeout: string }) => {
      const { Queue } = await import('bullmq');
      const { buildApp } = await import('../../api/app.js');
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { log } = await import('../../log.js');
      const { createExportTrigger, exportQueue } = await import('../../pipeline/export-queue.js');
      const { QUEUES } = await import('../../pipeline/queues.js');
      const { createBullConnection } = await import('../../pipeline/redis.js');
      const { enqueueSignals } = await import('../../realtime/signals.js');
      const { compileTriggers } = await import('../../realtime/triggers.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const { loadIngestSettings } = await import('./ingest-config.js');
      const env = getEnv();
      const settings = await loadIngestSettings(env);
      const store = openStore(env.STORE_URL, env);
      await ensureLayout(store);
      // Early export triggers go through the queue; a worker drains. The API itself never drains.
      const queueRedis = createBullConnection(env.REDIS_URL);
      const queue = exportQueue(queueRedis, env.QUEUE_PREFIX);
      // Real-time triggers from the configuration (a change applies at the next start).
      const loaded = existsSync(env.CONFIG) ? await loadAudienceSyncConfig(env.CONFIG) : undefined;
      const signalQueue = loaded
        ? new Queue(QUEUES.realtime, { connection: queueRedis, prefix: env.QUEUE_PREFIX })
        : undefined;
      const realtime =
        loaded && signalQueue
          ? {
              matcher: compileTriggers(loaded.config),
              enqueue: (signals: RealtimeSignal[]) => enqueueSignals(signalQueue, signals),
            }
          : undefined;
      const app = await buildApp({
        env,
        store,
        // One prefix per deployment sharing a Redis: the buffer keys sit next to the queues.
        redisPrefix: env.QUEUE_PREFIX,
        eventAliases: settings.eventAliases,
        requestExport: createExportTrigger(queue),
        ...(realtime ? { realtime } : {}),
        // Audiences, runs, plans, lift, the queue dashboard: only when the config file exists.
        ...(existsSync(env.CONFIG)
          ? {
              operator: {
                loadConfig: () => loadAudienceSyncConfig(env.CONFIG),
                pipeline: { connection: queueRedis, prefix: env.QUEUE_PREFIX },
              },
            }
          : {}),
      });
      await app.listen({ port: env.PORT, host: env.HOST });
      log.info({ port: env.PORT, host: env.HOST, store: store.location }, 'api listening');

      await new Promise<void>((resolve) => {
        const stop = async (signal: string) => {
          log.info({ signal }, 'api stopping');
          const timeoutMs = (Number(opts.shutdownTimeout) || 10) * 1000;
          let timer: NodeJS.Timeout | undefined;
          const timedOut = await Promise.race([
            app.close().then(() => false),
            new Promise<boolean>((r) => {
              timer = setTimeout(() => r(true), timeoutMs);
            }),
          ]);
          clearTimeout(timer);
          if (timedOut) {
            log.warn(
              { timeout_ms: timeoutMs },
              'in-flight requests did not finish in time; closing connections',
            );
            app.server.closeAllConnections();
          }
          await queue.close().catch(() => {});
          await signalQueue?.close().catch(() => {});
          queueRedis.disconnect();
          await store.close();
          resolve();
        };
        process.once('SIGTERM', () => void stop('SIGTERM'));
        process.once('SIGINT', () => void stop('SIGINT'));
      });
    });
}
