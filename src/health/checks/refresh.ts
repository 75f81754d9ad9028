import { builtDays } from '../../audiences/members.js';
import { latestSnapshotDay } from '../../people/snapshot.js';
import { readJsonIfExists } from '../../storage/object-store.js';
import type { SyncRunRecord } from '../../sync/run-record.js';
import { syncTargets } from '../../sync/targets.js';
import { type CheckContext, lastCompleteDayIn } from '../context.js';
import { duration, type Finding, findingId } from '../findings.js';
import { runRecordKeys } from '../sync-runs.js';

/** A sync record still `running` this long after its last checkpoint is a killed run nobody resumed. */
const STUCK_MS = 2 * 3_600_000;
const LAST_DAY = '9999-12-31';

/**
 * The daily refresh of the expected day did not finish: the people snapshot, an audience snapshot
 * or a sync run of that day (or later) is missing, or a sync is stuck half-way. The expected day is
 * the one a scheduled refresh works on, `refresh.grace_hours` ago. One finding for the whole refresh:
 * a refresh that did not run is one incident, not one per audience. Failed syncs are reported by
 * the destination check.
 */
export async function checkRefresh(ctx: CheckContext): Promise<Finding[]> {
  const { schedule, audiences } = ctx.config;
  if (!schedule.enabled || audiences.length === 0) return [];
  const graceMs = ctx.config.health.refresh.grace_hours * 3_600_000;
  const expected = lastCompleteDayIn(schedule.timezone, new Date(ctx.now.getTime() - graceMs));

  const days = new Map<string, string[]>();
  for (const a of audiences) days.set(a.id, await builtDays(ctx.store, a.id));
  // Before the first refresh ever finished there is nothing to be late against.
  if ([...days.values()].every((d) => d.length === 0)) return [];

  const missing: string[] = [];
  // A snapshot of a later day (a refresh run early, or by hand) covers the expected one too.
  const latestPeople = await latestSnapshotDay(ctx.store, LAST_DAY);
  if (!latestPeople || latestPeople < expected) missing.push('no people snapshot');
  const notBuilt: string[] = [];
  for (const a of audiences) {
    const built = days.get(a.id) ?? [];
    const latest = built[built.length - 1];
    if (!latest || latest < expected) notBuilt.push(`${a.id} (latest ${latest ?? 'never'})`);
  }
  if (notBuilt.length) missing.push(`no audience snapshot for ${notBuilt.join(', ')}`);

  const notSynced: string[] = [];
  const stuck: string[] = [];
  const unbuilt = new Set(notBuilt.map((s) => s.split(' ')[0]));
  for (const t of syncTargets(ctx.config.audiences)) {
    if (unbuilt.has(t.audienceId)) continue; // said already: no snapshot, so no sync
    const runKeys = await runRecordKeys(ctx.store, t.destination, t.audienceId);
    const lastKey = runKeys[runKeys.length - 1];
    const record = lastKey ? await readJsonIfExists<SyncRunRecord>(ctx.store, lastKey) : undefined;
    if (!record || record.day < expected) {
      notSynced.push(`${t.audienceId} → ${t.destination}`);
      continue;
    }
    const idleMs = ctx.now.getTime() - Date.parse(record.updated_at);
    if (record.status === 'running' && idleMs > STUCK_MS) {
      stuck.push(
        `${t.audienceId} → ${t.destination} (run ${record.run_id}, no progress for ${duration(idleMs)})`,
      );
    }
  }
  if (notSynced.length) missing.push(`no sync run for ${notSynced.join(', ')}`);
  if (stuck.length) missing.push(`sync stuck half-way for ${stuck.join(', ')}`);
  if (missing.length === 0) return [];
  return [
    {
      id: findingId('refresh_incomplete', 'daily'),
      severity: 'critical',
      kind: 'refresh_incomplete',
      subject: {},
      message: `the daily refresh for ${expected} did not finish: ${missing.join('; ')}`,
      details: {
        day: expected,
        audiences_not_built: notBuilt.length,
        syncs_missing: notSynced.length,
        stuck: stuck.length,
      },
    },
  ];
}
