import type { Command } from 'commander';
import { DATASETS, type Dataset } from '../../contract/datasets.js';
import { CliError, EXIT, out, outJson } from '../output.js';

/** `audience-sync export`: one drain of the ingest buffers into `raw/`, in this process. */
export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('drain the ingest buffers (Redis streams) into raw partitions, once, in this process')
    .option('--dataset <name>', `only this dataset (${DATASETS.join(', ')})`)
    .option('--json', 'print the result as JSON')
    .action(async (opts: { dataset?: string; json?: boolean }) => {
      if (opts.dataset !== undefined && !DATASETS.includes(opts.dataset as Dataset)) {
        throw new CliError(`--dataset must be one of ${DATASETS.join(', ')}`, EXIT.usage);
      }
      const { getEnv } = await import('../../config/env.js');
      const { drainBuffers } = await import('../../export/drain.js');
      const { log } = await import('../../log.js');
      const { connectCommandClient, probeRedis } = await import('../../redis/clients.js');
      const { redactRedisUrl } = await import('../../redis/scrub.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const env = getEnv();
      // The buffer lives in Redis: without it there is nothing to drain, so fail at once.
      if (!(await probeRedis(env.REDIS_URL, 2_000))) {
        throw new CliError(
          `Redis is not answering at ${redactRedisUrl(env.REDIS_URL)}; the ingest buffers live there`,
          EXIT.failed,
        );
      }
      const redis = await connectCommandClient(env.REDIS_URL, { label: 'export' }).catch((error: unknown) => {
        throw new CliError(error instanceof Error ? error.message : String(error), EXIT.failed);
      });
      const store = openStore(env.STORE_URL, env);
      try {
        await ensureLayout(store);
        const results = await drainBuffers({
          redis,
          store,
          prefix: env.QUEUE_PREFIX,
          ...(opts.dataset ? { datasets: [opts.dataset as Dataset] } : {}),
          logger: log,
        });
        if (opts.json) return outJson({ store: store.location, datasets: results });
        for (const r of results) {
          const note = r.status === 'locked' ? ' (another export is running; skipped)' : '';
          const suppressed = r.suppressed > 0 ? `, ${r.suppressed} of erased people dropped` : '';
          out(
            `${r.dataset}: ${r.written} records in ${r.chunks} chunk(s), ${r.quarantined} quarantined${suppressed}${note}`,
          );
        }
      } finally {
        redis.disconnect();
        await store.close();
      }
    });
}
