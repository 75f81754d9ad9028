import type { AudienceSyncConfig } from '../config-file.js';
import type { Logger } from '../log.js';
import { type AlertRunResult, type AlertSink, processAlerts, sinksFromConfig } from './alerts.js';
import { type HealthReport, runHealthChecks } from './checks.js';
import type { HealthCheckInput } from './context.js';

/** One health run, as the CLI and the scheduled job do it: checks, then alerts for what changed. */
export interface HealthRunOptions extends Omit<HealthCheckInput, 'config'> {
  config: Pick<AudienceSyncConfig, 'audiences' | 'health' | 'schedule' | 'alerts'>;
  log: Logger;
  /** Replaces the sinks of the `alerts:` block (tests). */
  sinks?: AlertSink[];
  fetch?: typeof fetch;
}

export interface HealthRunResult {
  report: HealthReport;
  alerts: AlertRunResult;
  /** Alert settings that could not be used (e.g. an unset webhook variable). */
  problems: string[];
}

export async function runHealth(options: HealthRunOptions): Promise<HealthRunResult> {
  const now = options.now ?? new Date();
  const report = await runHealthChecks({ ...options, now });
  const configured = options.sinks
    ? { sinks: options.sinks, problems: [] }
    : sinksFromConfig(options.config.alerts, {
        log: options.log,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      });
  for (const problem of configured.problems) options.log.warn({ setting: 'alerts' }, problem);
  const alerts = await processAlerts({
    store: options.store,
    findings: report.findings,
    sinks: configured.sinks,
    now,
  });
  for (const d of alerts.deliveries) {
    if (!d.ok)
      options.log.warn(
        { sink: d.sink, alert_id: d.id, change: d.change, reason: d.error },
        'alert not delivered; retried next run',
      );
  }
  return { report, alerts, problems: configured.problems };
}
