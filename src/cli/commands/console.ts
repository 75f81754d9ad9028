import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { exampleConfigPath } from '../example-config.js';
import { CliError, EXIT, out } from '../output.js';

/**
 * `audience-sync console`: the operator console on the embedded store, for looking at what `demo`
 * (or any local run) left there. The same app as `serve`, with the example configuration when
 * CONFIG does not exist, as `demo` uses it. Sign-in takes a key from ADMIN_API_KEYS (secrets come
 * from the environment only). With Redis answering, "sync now" enqueues runs for a `worker`;
 * without it, the console is read-only.
 */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description(
      'open the operator console on the local store (e.g. after `demo`) at http://HOST:PORT/console',
    )
    .action(async () => {
      const { buildApp } = await import('../../api/app.js');
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { createBullConnection, probeRedis } = await import('../../pipeline/redis.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const base = getEnv();
      if (base.ADMIN_API_KEYS.length === 0) {
        throw new CliError(
          'set ADMIN_API_KEYS to a key of your choosing (e.g. ADMIN_API_KEYS=local-demo-key); the console signs in with it',
          EXIT.usage,
        );
      }
      const config = existsSync(base.CONFIG) ? base.CONFIG : exampleConfigPath();
      const env = { ...base, CONFIG: config };
      const store = openStore(env.STORE_URL, env);
      await ensureLayout(store);
      const redisUp = await probeRedis(env.REDIS_URL);
      const queueRedis = redisUp ? createBullConnection(env.REDIS_URL) : undefined;
      const app = await buildApp({
        env,
        store,
        operator: {
          loadConfig: () => loadAudienceSyncConfig(config),
          ...(queueRedis ? { pipeline: { connection: queueRedis, prefix: env.QUEUE_PREFIX } } : {}),
        },
      });
      const address = new URL(await app.listen({ port: env.PORT, host: env.HOST }));
      if (address.hostname === '0.0.0.0') address.hostname = '127.0.0.1';
      out(`console: ${address.origin}/console`);
      out(`  store ${store.location}, configuration ${config}`);
      out('  sign in with one of the keys in ADMIN_API_KEYS');
      out(
        redisUp
          ? '  "sync now" enqueues runs: start `audience-sync worker` to run them'
          : '  Redis is not answering: the console is read-only ("sync now" needs Redis and a worker)',
      );
      await new Promise<void>((resolve) => {
        const stop = async () => {
          await app.close();
          queueRedis?.disconnect();
          await store.close();
          resolve();
        };
        process.once('SIGTERM', () => void stop());
        process.once('SIGINT', () => void stop());
      });
    });
}
