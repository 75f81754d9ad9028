import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { addDays, today } from '../../contract/days.js';
import { exampleConfigPath } from '../example-config.js';
import { out } from '../output.js';
import { printSummary } from './refresh.js';

/**
 * `audience-sync demo`: a synthetic dataset in the embedded store, then the refresh in this
 * process with the example configuration and dry-run destinations. No Redis, no credentials.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'generate a sample dataset and run a dry-run refresh on the embedded store (no Redis, no credentials)',
    )
    .option('--people <n>', 'people in the sample', '20000')
    .option('--days <n>', 'days of history', '45')
    .option('--seed <n>', 'random seed', '7')
    .action(async (opts: { people: string; days: string; seed: string }) => {
      const { getEnv } = await import('../../config/env.js');
      const { generateDataset } = await import('../../generate/dataset.js');
      const { runRefreshInline } = await import('../../pipeline/refresh-inline.js');
      const { runBuildStage } = await import('../../pipeline/stages.js');
      const { openStageContext } = await import('../stage-context.js');
      const base = getEnv();
      // The example configuration unless CONFIG points at an existing file.
      const config = process.env.CONFIG && existsSync(base.CONFIG) ? base.CONFIG : exampleConfigPath();
      const env = { ...base, CONFIG: config };
      const { ctx, close } = await openStageContext({ env });
      try {
        const endDay = addDays(today(), -1);
        out(`generating ${opts.people} people × ${opts.days} days into ${ctx.store.location} ...`);
        const generated = await generateDataset({
          store: ctx.store,
          people: Number(opts.people),
          days: Number(opts.days),
          seed: Number(opts.seed),
          endDay,
        });
        out(
          `  ${generated.records.events} events, ${generated.records.messages} messages, ${generated.records.people} person updates ` +
            `(${generated.duplicates} duplicates, ${generated.malformed} malformed rows on purpose)`,
        );
        // Earlier days' snapshots of the measured audiences give the lift report cohorts whose outcome
        // windows have ended: a month of entry days, so the holdout is hundreds of people, not a handful.
        const measured = ctx.loaded.config.audiences
          .filter((a) => (a.holdout?.fraction ?? 0) > 0)
          .map((a) => a.id);
        const history = Math.min(Number(opts.days) - 1, 35);
        out(
          `building ${measured.join(', ')} for the ${history} days before ${endDay} (entry cohorts for the lift report) ...`,
        );
        for (let d = addDays(endDay, -history); d < endDay; d = addDays(d, 1))
          await runBuildStage(ctx, d, measured);
        out(
          `running the refresh for ${endDay} with ${config} (dry run: requests go to outbox/, nothing leaves this machine)`,
        );
        out('');
        const summary = await runRefreshInline(ctx, { day: endDay, dryRun: true });
        printSummary(summary);
        out('');
        out(`outbox (exact request bodies per platform): ${ctx.store.location.replace(/\/?$/, '/')}outbox/`);
        out(
          `audience snapshots and manifests:          ${ctx.store.location.replace(/\/?$/, '/')}audiences/`,
        );
        out(
          `lift reports (JSON + HTML):                ${ctx.store.location.replace(/\/?$/, '/')}reports/lift/`,
        );
      } finally {
        await close();
      }
    });
}
