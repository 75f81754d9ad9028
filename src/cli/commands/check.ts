import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import type { Finding } from '../../health/findings.js';
import type { HealthRunResult } from '../../health/run.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

/**
 * `audience-sync check [--json] [--no-alerts]`: runs the data-health checks once, sends alerts for
 * the findings that changed state since the last run (the same state the scheduled job keeps), and
 * exits 1 when something critical is wrong — usable from cron or CI as it is.
 */
export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('run the data-health checks, alert on state changes, exit 1 on a critical finding')
    .option('--json', 'print the findings and alert changes as JSON')
    .option('--no-alerts', 'only report: do not send alerts or change the alert state')
    .action(async (opts: { json?: boolean; alerts: boolean }) => {
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { runHealthChecks } = await import('../../health/checks.js');
      const { runHealth } = await import('../../health/run.js');
      const { log, redirectLogs } = await import('../../log.js');
      const { probeRedis } = await import('../../redis/clients.js');
      const { openStore } = await import('../../storage/open-store.js');
      // stdout is for the report; logs (including the log alert sink) go to stderr.
      const restoreLogs = redirectLogs('stderr');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      const store = openStore(env.STORE_URL, env);
      // Buffer checks need Redis; everything else runs without it, and never waits for it.
      // (A Redis that answered the probe but not the connection is reported like a missing one.)
      const redis = (await probeRedis(env.REDIS_URL))
        ? await checkRedis(env.REDIS_URL).catch(() => undefined)
        : undefined;
      try {
        // The ingest buffer's keys live under the deployment's prefix, like its queues.
        const input = {
          store,
          config: loaded.config,
          log,
          redisPrefix: env.QUEUE_PREFIX,
          ...(redis ? { redis } : {}),
        };
        const result: Pick<HealthRunResult, 'report'> & Partial<HealthRunResult> = opts.alerts
          ? await runHealth(input)
          : { report: await runHealthChecks(input) };
        const critical = result.report.findings.filter((f) => f.severity === 'critical');
        if (opts.json) {
          outJson({
            checked_at: result.report.checked_at,
            day: result.report.day,
            redis: redis ? 'checked' : 'unreachable: buffer checks skipped',
            findings: result.report.findings,
            alerts: result.alerts
              ? {
                  fired: result.alerts.fired,
                  resolved: result.alerts.resolved,
                  firing: result.alerts.firing.map((a) => a.id),
                  deliveries: result.alerts.deliveries,
                }
              : null,
            problems: result.problems ?? [],
          });
        } else {
          printReport(result, redis !== undefined);
        }
        if (critical.length > 0) {
          throw new CliError(
            `${critical.length} critical finding${critical.length === 1 ? '' : 's'}`,
            EXIT.failed,
          );
        }
      } finally {
        redis?.disconnect();
        await store.close();
        restoreLogs();
      }
    });
}

/** The buffer checks' connection: short commands, ready before the first one, no reconnect loop. */
async function checkRedis(url: string): Promise<Redis> {
  const { connectCommandClient } = await import('../../redis/clients.js');
  return connectCommandClient(url, {
    label: 'check',
    overrides: {
      connectTimeout: 1_000,
      commandTimeout: 2_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    },
  });
}

const LABEL: Record<Finding['severity'], string> = {
  critical: 'CRITICAL',
  warning: 'WARNING ',
  info: 'info    ',
};

function printReport(
  result: Pick<HealthRunResult, 'report'> & Partial<HealthRunResult>,
  redisChecked: boolean,
): void {
  const { report } = result;
  out(`checked ${report.checked_at} (volume and drift compare ${report.day})`);
  if (!redisChecked) out('redis unreachable: buffer checks skipped');
  const alerting = report.findings.filter((f) => f.severity !== 'info');
  if (alerting.length === 0) out('ok: no findings');
  for (const f of report.findings) out(`${LABEL[f.severity]} ${f.id}  ${f.message}`);
  if (result.alerts) {
    const a = result.alerts;
    out(
      `alerts: ${a.fired.length} fired${a.fired.length ? ` (${a.fired.join(', ')})` : ''}, ` +
        `${a.resolved.length} resolved${a.resolved.length ? ` (${a.resolved.join(', ')})` : ''}, ${a.firing.length} firing`,
    );
    for (const d of a.deliveries.filter((x) => !x.ok))
      err(`alert ${d.id} not delivered to ${d.sink}: ${d.error}`);
  }
  for (const p of result.problems ?? []) err(`warning: ${p}`);
}
