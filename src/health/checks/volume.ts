import type { CheckContext } from '../context.js';
import { type Finding, findingId, median, percent } from '../findings.js';

/** The last complete day's record count against the median of the baseline days before it. */
export async function checkVolume(ctx: CheckContext): Promise<Finding[]> {
  const settings = ctx.config.health.volume;
  const findings: Finding[] = [];
  for (const dataset of ctx.datasets) {
    const { day, baseline } = await ctx.profiles(dataset);
    const med = median(baseline.map((p) => p.records));
    // Too little history (a new install, a rarely used dataset): any ratio would be noise.
    if (med < settings.min_baseline) continue;
    const details = {
      day: ctx.day,
      records: day.records,
      baseline_median: med,
      baseline_days: baseline.length,
    };
    if (day.records < settings.drop_below * med) {
      findings.push({
        id: findingId('volume_drop', dataset),
        severity: 'critical',
        kind: 'volume_drop',
        subject: { dataset },
        message:
          `${dataset}: ${ctx.day} has ${day.records} records, ${percent(1 - day.records / med)} below the median ` +
          `of the ${baseline.length} days before (${med}); alert below ${percent(settings.drop_below)} of it`,
        details,
      });
    } else if (day.records > settings.spike_above * med) {
      findings.push({
        id: findingId('volume_spike', dataset),
        severity: 'warning',
        kind: 'volume_spike',
        subject: { dataset },
        message:
          `${dataset}: ${ctx.day} has ${day.records} records, ${(day.records / med).toFixed(1)}× the median ` +
          `of the ${baseline.length} days before (${med}); duplicates or a replayed backfill?`,
        details,
      });
    }
  }
  return findings;
}
