import type { SyncRunRecord } from '../../sync/run-record.js';
import { syncTargets } from '../../sync/targets.js';
import type { CheckContext } from '../context.js';
import { type Finding, findingId, median, percent } from '../findings.js';
import { coverageOf, recentRuns } from '../sync-runs.js';

/**
 * From the latest sync run records of every audience × destination: destinations whose latest run
 * failed (or was stopped by a guard), identifier coverage falling, match rate falling.
 */
export async function checkSyncs(ctx: CheckContext): Promise<Finding[]> {
  const settings = ctx.config.health.coverage;
  const failing = new Map<string, { critical: boolean; items: string[] }>();
  const findings: Finding[] = [];
  for (const target of syncTargets(ctx.config.audiences)) {
    const { destination, audienceId } = target;
    // Retries add records: read enough to find `baseline_runs` completed runs before the latest.
    const runs = await recentRuns(ctx.store, destination, audienceId, settings.baseline_runs * 2 + 2);
    // Runs still going (or waiting on a platform job) say nothing yet: judging the last finished one
    // keeps an alert from resolving and firing again around every run.
    const latest = runs.find((r) => r.status !== 'running' && r.status !== 'finalizing');
    if (!latest) continue;

    if (latest.status === 'failed' || latest.status === 'blocked') {
      const entry = failing.get(destination) ?? { critical: false, items: [] };
      entry.critical ||= latest.status === 'failed';
      entry.items.push(describeFailure(latest));
      failing.set(destination, entry);
    }

    const lag = realtimeLag(runs, target, ctx.config.health.realtime.max_lag_seconds);
    if (lag) findings.push(lag);

    // Baselines compare daily runs: a real-time micro-batch or an erasure names a few people only.
    const completed = runs.filter((r) => r.status === 'completed' && !r.trigger);
    const [current, ...previous] = completed;
    if (!current || previous.length === 0) continue;
    const before = previous.slice(0, settings.baseline_runs);

    const drops = coverageDrops(current, before, settings.max_drop);
    if (drops.length > 0) {
      findings.push({
        id: findingId('coverage_drop', destination, audienceId),
        severity: 'warning',
        kind: 'coverage_drop',
        subject: { audience: audienceId, destination },
        message:
          `${audienceId} → ${destination}: identifier coverage fell in run ${current.run_id}: ${drops.join(', ')} ` +
          `(against the median of the ${before.length} runs before)`,
        details: {
          run_id: current.run_id,
          members: current.members.desired + current.members.no_identifiers,
        },
      });
    }

    const rate = current.match_rate;
    const baseRates = before.map((r) => r.match_rate).filter((r): r is number => typeof r === 'number');
    if (typeof rate === 'number' && baseRates.length > 0) {
      const base = median(baseRates);
      if (base - rate >= settings.match_rate_max_drop) {
        findings.push({
          id: findingId('match_rate_drop', destination, audienceId),
          severity: 'warning',
          kind: 'match_rate_drop',
          subject: { audience: audienceId, destination },
          message:
            `${audienceId} → ${destination}: the platform matched ${percent(rate)} in run ${current.run_id}, ` +
            `down from a median of ${percent(base)} over the ${baseRates.length} runs before`,
          details: { run_id: current.run_id, match_rate: rate, baseline: base },
        });
      }
    }
  }
  for (const [destination, entry] of failing) {
    findings.push({
      id: findingId('destination_failing', destination),
      severity: entry.critical ? 'critical' : 'warning',
      kind: 'destination_failing',
      subject: { destination },
      message: `${destination}: the latest sync ${entry.critical ? 'failed' : 'was stopped'} for ${entry.items.join('; ')}`,
      details: { audiences: entry.items.length },
    });
  }
  return findings;
}

/** The latest real-time run of a target, when its p99 lag went over the limit. */
function realtimeLag(
  runs: SyncRunRecord[],
  target: { destination: string; audienceId: string },
  maxSeconds: number,
): Finding | undefined {
  const latest = runs.find((r) => r.trigger === 'realtime' && r.status === 'completed' && r.realtime);
  const p99 = latest?.realtime?.lag_ms.p99;
  if (!latest || p99 === undefined || p99 / 1000 <= maxSeconds) return undefined;
  return {
    id: findingId('realtime_lag', target.destination, target.audienceId),
    severity: 'warning',
    kind: 'realtime_lag',
    subject: { audience: target.audienceId, destination: target.destination },
    message:
      `${target.audienceId} → ${target.destination}: real-time changes took ${(p99 / 1000).toFixed(1)} s (p99) ` +
      `to reach the platform in run ${latest.run_id}, over the ${maxSeconds} s limit`,
    details: { run_id: latest.run_id, p99_ms: p99, people: latest.realtime!.people },
  };
}

function describeFailure(record: SyncRunRecord): string {
  if (record.status === 'blocked') {
    const why = record.guards.map((g) => g.message).join(', ');
    return `${record.audience_id} (run ${record.run_id} stopped by a guard: ${short(why)}; rerun with --confirm if intended)`;
  }
  const e = record.error;
  const code = e?.code !== undefined ? ` ${e.code}` : '';
  return `${record.audience_id} (run ${record.run_id}, ${e?.kind ?? 'error'}${code}: ${short(e?.message ?? 'no error recorded')})`;
}

function short(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 160 ? `${one.slice(0, 157)}...` : one;
}

function coverageDrops(current: SyncRunRecord, before: SyncRunRecord[], maxDrop: number): string[] {
  const now = coverageOf(current);
  if (!now) return [];
  const past = before.map(coverageOf).filter((c): c is NonNullable<typeof c> => c !== undefined);
  if (past.length === 0) return [];
  const out: string[] = [];
  const compare = (label: string, value: number, history: number[]) => {
    const base = median(history);
    if (base - value >= maxDrop) out.push(`${label} ${percent(value)} (was ${percent(base)})`);
  };
  compare(
    'any identifier',
    now.any,
    past.map((c) => c.any),
  );
  const types = new Set([...Object.keys(now.byType), ...past.flatMap((c) => Object.keys(c.byType))]);
  for (const type of [...types].sort()) {
    compare(
      type,
      now.byType[type] ?? 0,
      past.map((c) => c.byType[type] ?? 0),
    );
  }
  return out;
}
