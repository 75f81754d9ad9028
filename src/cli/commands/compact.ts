import type { Command } from 'commander';
import type { CompactDayReport, CompactionReport } from '../../compaction/compact.js';
import { DATASETS, type Dataset } from '../../contract/datasets.js';
import { isDay } from '../../contract/days.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

/**
 * `audience-sync compact [--date D] [--dataset d] [--json]`: rewrites the JSON Lines parts of
 * closed days (`compaction.grace_hours` after the end of the day) as Parquet, in-process. Without
 * `--date`, every closed day that has JSON Lines parts; the daily refresh runs the same function
 * before the people snapshot and the build.
 */
export function registerCompactCommand(program: Command): void {
  program
    .command('compact')
    .description('rewrite the raw JSON Lines parts of closed days as Parquet (one file per day)')
    .option('--date <day>', 'only this day, YYYY-MM-DD (default: every closed day)')
    .option('--dataset <name>', `only this dataset: ${DATASETS.join(', ')} (default: all)`)
    .option('--json', 'print the report as JSON')
    .action(async (opts: { date?: string; dataset?: string; json?: boolean }) => {
      if (opts.date !== undefined && !isDay(opts.date))
        throw new CliError(`--date must be a day as YYYY-MM-DD, got "${opts.date}"`, EXIT.usage);
      if (opts.dataset !== undefined && !DATASETS.includes(opts.dataset as Dataset))
        throw new CliError(
          `--dataset must be one of ${DATASETS.join(', ')}, got "${opts.dataset}"`,
          EXIT.usage,
        );
      const datasets = opts.dataset ? [opts.dataset as Dataset] : DATASETS;
      const { compactClosedDays, compactDay } = await import('../../compaction/compact.js');
      const { closesAt, isClosed } = await import('../../compaction/config.js');
      const { cacheOptionsFromEnv, engineSettingsFromEnv } = await import(
        '../../compaction/engine-settings.js'
      );
      const { getEnv } = await import('../../config/env.js');
      const { Engine } = await import('../../engine/duckdb.js');
      const { openStageContext } = await import('../stage-context.js');
      const env = getEnv();
      const now = new Date();
      // Store, config, and the lock that keeps two compactors off one day (Redis when it answers).
      const { ctx, close } = await openStageContext({ env });
      const store = ctx.store;
      const graceHours = ctx.loaded.config.compaction.grace_hours;
      const cache = cacheOptionsFromEnv(env);
      const runtime = {
        settings: engineSettingsFromEnv(env),
        cacheDir: cache.dir,
        cacheMaxBytes: cache.maxBytes,
        log: ctx.log,
        ...(ctx.locker ? { locker: ctx.locker } : {}),
      };
      try {
        if (opts.date !== undefined && !isClosed(opts.date, now, graceHours)) {
          throw new CliError(
            `${opts.date} is not closed yet: it closes at ${closesAt(opts.date, graceHours).toISOString()} ` +
              `(compaction.grace_hours: ${graceHours})`,
            EXIT.usage,
          );
        }
        const onDay = (d: CompactDayReport) => {
          if (!opts.json && process.stderr.isTTY && d.status === 'compacted') err(`  ${describeDay(d)}`);
        };
        let report: CompactionReport;
        if (opts.date !== undefined) {
          const started = process.hrtime.bigint();
          const engine = await Engine.open(runtime.settings);
          const days: CompactDayReport[] = [];
          try {
            for (const dataset of datasets) {
              const d = await compactDay({ store, dataset, day: opts.date, now, engine, ...runtime });
              onDay(d);
              days.push(d);
            }
          } finally {
            engine.close();
          }
          report = {
            now: now.toISOString(),
            grace_hours: graceHours,
            days,
            parts_compacted: sum(days, (d) => d.parts_compacted),
            rows: sum(days, (d) => d.rows),
            malformed_lines: sum(days, (d) => d.malformed_lines),
            bytes_before: sum(days, (d) => d.bytes_before),
            bytes_after: sum(days, (d) => d.bytes_after),
            deferred_days: 0,
            seconds: Number(process.hrtime.bigint() - started) / 1e9,
          };
        } else {
          report = await compactClosedDays({ store, now, graceHours, datasets, onDay, ...runtime });
        }
        if (opts.json) return outJson(report);
        printReport(report);
      } finally {
        await close();
      }
    });
}

function sum<T>(items: readonly T[], f: (t: T) => number): number {
  return items.reduce((n, t) => n + f(t), 0);
}

function describeDay(d: CompactDayReport): string {
  return (
    `${d.dataset} ${d.day}: ${d.parts_compacted} parts → ${d.rows} rows` +
    (d.malformed_lines ? `, ${d.malformed_lines} malformed lines quarantined` : '') +
    `, ${mb(d.bytes_before)} → ${mb(d.bytes_after)}` +
    (d.salvaged.length ? `, ${d.salvaged.length} damaged parts salvaged` : '')
  );
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function printReport(r: CompactionReport): void {
  const compacted = r.days.filter((d) => d.status === 'compacted');
  if (r.days.length === 0) {
    out(`nothing to compact (days close ${r.grace_hours} h after their end, UTC)`);
    return;
  }
  out(
    `compacted ${compacted.length} day partitions: ${r.parts_compacted} parts, ${r.rows} rows` +
      (r.malformed_lines ? `, ${r.malformed_lines} malformed lines quarantined` : '') +
      `, ${mb(r.bytes_before)} → ${mb(r.bytes_after)} in ${r.seconds.toFixed(1)} s`,
  );
  for (const d of r.days) {
    if (d.status === 'compacted') out(`  ${describeDay(d)}`);
    const c = d.cleanup;
    if (c.orphans_deleted.length || c.sources_deleted || c.entries_dropped.length)
      out(
        `  ${d.dataset} ${d.day}: cleaned up an interrupted run (${c.orphans_deleted.length} unfinished files, ` +
          `${c.sources_deleted} compacted parts deleted, ${c.entries_dropped.length} entries of missing files dropped)`,
      );
  }
}
