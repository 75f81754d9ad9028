import { type ObjectStore, readJsonIfExists } from '../storage/object-store.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import { listRuns } from '../sync/runs.js';

/**
 * Reading sync run records back (`sync/<destination>/<audience>/runs/<run_id>.json`). Run ids of
 * the refresh are the day, and retries of a day get `-2`, `-3`: they sort by (day, attempt). Other
 * ids (a manual run) sort by the day their record was last written.
 */

/** Run record keys of one target, oldest first: by (day, attempt), then by when they were written. */
export async function runRecordKeys(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<string[]> {
  const refs = (await listRuns(store, destination, audienceId)).map((r) => ({
    ...r,
    day: r.day ?? new Date(r.modified).toISOString().slice(0, 10),
  }));
  refs.sort((a, b) =>
    a.day !== b.day
      ? a.day < b.day
        ? -1
        : 1
      : a.attempt !== b.attempt
        ? a.attempt - b.attempt
        : a.modified - b.modified,
  );
  return refs.map((r) => r.key);
}

/** The newest `limit` run records of a target, newest first (dry runs never land here). */
export async function recentRuns(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  limit: number,
): Promise<SyncRunRecord[]> {
  const runKeys = await runRecordKeys(store, destination, audienceId);
  const wanted = runKeys.slice(-limit).reverse();
  const records = await Promise.all(wanted.map((k) => readJsonIfExists<SyncRunRecord>(store, k)));
  return records.filter((r): r is SyncRunRecord => r !== undefined && !r.dry_run);
}

/** Identifier coverage of a run: share of eligible people with any usable identifier, and per type. */
export function coverageOf(
  record: SyncRunRecord,
): { any: number; byType: Record<string, number> } | undefined {
  const m = record.members;
  if (!m) return undefined;
  const eligible = m.desired + m.no_identifiers;
  if (eligible <= 0) return undefined;
  const byType: Record<string, number> = {};
  for (const [type, n] of Object.entries(m.coverage ?? {})) byType[type] = (n ?? 0) / eligible;
  return { any: m.desired / eligible, byType };
}

/** Platform-reported matched people, where the platform says (Meta: the latest upload session). */
export function reportedMatches(record: SyncRunRecord): number | undefined {
  const raw = record.platform?.raw as Record<string, unknown> | undefined;
  const session = raw?.latest_session as Record<string, unknown> | null | undefined;
  const matched = session?.num_matched;
  return typeof matched === 'number' && matched >= 0 ? matched : undefined;
}
