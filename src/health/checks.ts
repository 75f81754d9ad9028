import { scrubText } from '../log.js';
import { checkDrift } from './checks/drift.js';
import { checkBuffers, checkFreshness } from './checks/freshness.js';
import { checkRefresh } from './checks/refresh.js';
import { checkScoreTables } from './checks/score-tables.js';
import { checkSyncs } from './checks/sync.js';
import { checkVolume } from './checks/volume.js';
import { type CheckContext, checkContext, type HealthCheckInput } from './context.js';
import { type Finding, findingId, severityRank } from './findings.js';

/**
 * Every data-health check over durable state (the store, and Redis for the buffers). Pure apart
 * from reading — and caching day profiles under `health/profiles/` — so the CLI, the scheduled job
 * and tests run the same thing; turning findings into alerts is `alerts.ts`.
 */
const CHECKS: Readonly<Record<string, (ctx: CheckContext) => Promise<Finding[]>>> = {
  freshness: checkFreshness,
  buffers: checkBuffers,
  volume: checkVolume,
  drift: checkDrift,
  syncs: checkSyncs,
  refresh: checkRefresh,
  score_tables: checkScoreTables,
};

export interface HealthReport {
  checked_at: string;
  /** The last complete UTC day, which volume and drift compare. */
  day: string;
  findings: Finding[];
}

export async function runHealthChecks(input: HealthCheckInput): Promise<HealthReport> {
  const ctx = checkContext(input);
  const findings: Finding[] = [];
  for (const [name, check] of Object.entries(CHECKS)) {
    try {
      findings.push(...(await check(ctx)));
    } catch (error) {
      // A check that cannot run is itself worth knowing (the store or Redis may be unreachable).
      findings.push({
        id: findingId('check_failed', name),
        severity: 'warning',
        kind: 'check_failed',
        subject: {},
        message: `the ${name} check could not run: ${errorText(error)}`,
      });
    }
  }
  // Messages quote field and event names from payloads: scrub them like log lines, to be sure.
  for (const f of findings) f.message = scrubText(f.message);
  findings.sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || (a.id < b.id ? -1 : 1));
  return { checked_at: ctx.now.toISOString(), day: ctx.day, findings };
}

function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const one = text.replace(/\s+/g, ' ');
  return one.length > 200 ? `${one.slice(0, 197)}...` : one;
}
