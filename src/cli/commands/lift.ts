import type { Command } from 'commander';
import { isDay } from '../../contract/days.js';
import { count, percent, points, pValue, signedPercent } from '../../measure/format.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

interface LiftOptions {
  audience: string;
  from?: string;
  to?: string;
  asOf?: string;
  windowDays?: string;
  json?: boolean;
}

function day(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && !isDay(value)) {
    throw new CliError(`--${name} must be a day as YYYY-MM-DD, got ${JSON.stringify(value)}`, EXIT.usage);
  }
  return value;
}

/** `audience-sync lift --audience id [--from D] [--to D] [--as-of D] [--window-days N] [--json]` */
export function registerLiftCommand(program: Command): void {
  program
    .command('lift')
    .description('holdout-based lift report for an audience (writes reports/lift/<audience>/dt=<as-of>/)')
    .requiredOption('--audience <id>', 'audience id from the configuration (must have a holdout)')
    .option('--from <day>', 'first entry day of the cohort (default: the first snapshot)')
    .option('--to <day>', 'last entry day of the cohort (default: the as-of day)')
    .option(
      '--as-of <day>',
      'count data up to the end of this UTC day (default: yesterday, the last complete day)',
    )
    .option(
      '--window-days <n>',
      'outcome window in days after the entry day (default: measure.window_days or 14)',
    )
    .option('--json', 'print the report JSON')
    .action(async (opts: LiftOptions) => {
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { LiftError, lastCompleteDay, measureLift } = await import('../../measure/report.js');
      const { liftSettings } = await import('../../measure/stage.js');
      const { openStore } = await import('../../storage/open-store.js');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      const audience = loaded.config.audiences.find((a) => a.id === opts.audience);
      if (!audience) {
        const known = loaded.config.audiences.map((a) => a.id).join(', ') || 'none';
        throw new CliError(
          `unknown audience ${opts.audience} in ${env.CONFIG} (configured: ${known})`,
          EXIT.usage,
        );
      }
      const settings = liftSettings(audience);
      if (!settings || settings.holdoutFraction >= 1) {
        throw new CliError(
          `audience ${audience.id} has no usable holdout: lift needs holdout: { fraction: 0 < f < 1 } in ${env.CONFIG}`,
          EXIT.usage,
        );
      }
      let windowDays = settings.windowDays;
      if (opts.windowDays !== undefined) {
        if (!/^\d+$/.test(opts.windowDays)) {
          throw new CliError(
            `--window-days must be a whole number, got ${JSON.stringify(opts.windowDays)}`,
            EXIT.usage,
          );
        }
        windowDays = Number(opts.windowDays);
      }
      const store = openStore(env.STORE_URL, env);
      try {
        const { report, keys } = await measureLift({
          store,
          audienceId: audience.id,
          from: day('from', opts.from),
          to: day('to', opts.to),
          asOf: day('as-of', opts.asOf) ?? lastCompleteDay(),
          windowDays,
          event: settings.event,
          holdoutFraction: settings.holdoutFraction,
          salt: settings.salt,
          covariates: settings.covariates,
        });
        if (opts.json) return outJson(report);
        const t = report.groups.treatment;
        const h = report.groups.holdout;
        out(
          `${report.audience}: entries ${report.period.from}..${report.period.to}, ${report.event} within ${report.window_days} days, as of ${report.as_of}`,
        );
        out(
          `  treatment  ${count(t.people).padStart(9)} people  ${count(t.converters).padStart(8)} converted  ${percent(t.rate, 2)}`,
        );
        out(
          `  holdout    ${count(h.people).padStart(9)} people  ${count(h.converters).padStart(8)} converted  ${percent(h.rate, 2)}`,
        );
        out(
          `  lift       ${points(report.absolute_lift.estimate, 2)} [${points(report.absolute_lift.ci_low, 2)}, ${points(report.absolute_lift.ci_high, 2)}]  ` +
            `${signedPercent(report.relative_lift.estimate)} relative  ${pValue(report.p_value)}  MDE ${points(report.mde, 2).replace('+', '')}`,
        );
        const adj = report.adjusted;
        if (adj) {
          out(
            `  adjusted   ${points(adj.absolute_lift.estimate, 2)} [${points(adj.absolute_lift.ci_low, 2)}, ${points(adj.absolute_lift.ci_high, 2)}]  ` +
              `${signedPercent(adj.relative_lift.estimate)} relative  variance ${adj.reduces_variance ? 'reduced' : 'NOT reduced'} ${percent(adj.variance_reduction)}`,
          );
        }
        const av = report.always_valid;
        if (av) {
          out(
            `  always-valid [${points(av.absolute_lift.ci_low, 2)}, ${points(av.absolute_lift.ci_high, 2)}] (${av.based_on}; ${av.excludes_zero ? 'excludes zero' : 'no decision yet'})`,
          );
        }
        out(`  pending    ${count(report.pending.people)} people still inside their window`);
        out('');
        out(report.headline);
        for (const w of report.warnings) err(`warning: ${w}`);
        if (keys) out(`\nwrote ${keys.json} and ${keys.html} in ${store.location}`);
      } catch (error) {
        if (error instanceof LiftError) {
          throw new CliError(error.message, error.kind === 'input' ? EXIT.usage : EXIT.failed);
        }
        throw error;
      } finally {
        await store.close();
      }
    });
}
