import type { Command } from 'commander';
import type { RetentionKindReport, RetentionReport } from '../../privacy/retention.js';
import { out, outJson } from '../output.js';

/** Removed units listed per kind in the text output (`--json` lists them all). */
const LISTED = 20;

/**
 * `audience-sync retention [--dry-run] [--json]`: the daily retention sweep, in-process — deletes
 * what is older than the limits of `retention:` and prints what it removed (or, with `--dry-run`,
 * what it would remove). docs/privacy.md, "Retention".
 */
export function registerRetentionCommand(program: Command): void {
  program
    .command('retention')
    .description('delete data older than the retention: limits and print what was removed')
    .option('--dry-run', 'only print what would be removed')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { dryRun?: boolean; json?: boolean }) => {
      const { getEnv } = await import('../../config/env.js');
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { log, redirectLogs } = await import('../../log.js');
      const { runRetention } = await import('../../privacy/retention.js');
      const { openStore } = await import('../../storage/open-store.js');
      // stdout is for the report; the summary log line goes to stderr.
      const restoreLogs = redirectLogs('stderr');
      try {
        const env = getEnv();
        const { config } = await loadAudienceSyncConfig(env.CONFIG);
        const store = openStore(env.STORE_URL, env);
        try {
          const report = await runRetention({
            store,
            config: config.retention,
            dryRun: opts.dryRun === true,
            log,
          });
          if (opts.json) outJson(report);
          else printReport(report);
        } finally {
          await store.close();
        }
      } finally {
        restoreLogs();
      }
    });
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/** Why older units of a kind are kept (retention.ts). */
const KEPT: Partial<Record<RetentionKindReport['kind'], string>> = {
  raw: 'person partitions kept: parts the newest people snapshot has not folded yet',
  people: 'kept: the newest complete snapshot',
  audiences: 'kept: the newest complete snapshot of an audience',
  runs: 'kept: the newest run day of an audience × destination',
};

const UNIT: Record<RetentionKindReport['kind'], string> = {
  raw: 'partitions',
  people: 'snapshots',
  audiences: 'snapshots',
  quarantine: 'partitions',
  outbox: 'dry runs',
  runs: 'runs',
};

function printReport(r: RetentionReport): void {
  const verb = r.dry_run ? 'would remove' : 'removed';
  out(
    `retention as of ${r.today} (UTC)${r.dry_run ? ', dry run: nothing deleted' : ''}: ` +
      `${verb} ${r.keys_deleted} objects, ${size(r.bytes)}`,
  );
  for (const k of r.kinds) {
    const span = k.oldest_day
      ? k.oldest_day === k.newest_day
        ? ` (${k.oldest_day})`
        : ` (${k.oldest_day} … ${k.newest_day})`
      : '';
    const kept = k.kept ? `; ${k.kept} older ${KEPT[k.kind] ?? 'kept'}` : '';
    out(
      `  ${k.kind.padEnd(10)} ${`${k.setting} ${k.limit_days}`.padEnd(20)} keeps ${k.keep_from} and newer: ` +
        `${verb} ${k.units} ${UNIT[k.kind]}, ${k.keys_deleted} objects, ${size(k.bytes)}${span}${kept}`,
    );
    for (const label of k.removed.slice(0, LISTED)) out(`      ${label}`);
    if (k.removed.length > LISTED) out(`      … and ${k.removed.length - LISTED} more (--json lists all)`);
  }
}
