import { keys } from '../storage/keys.js';
import { type ObjectStore, readJsonIfExists, writeJson } from '../storage/object-store.js';
import type { SyncRunRecord } from './run-record.js';

/**
 * Where sync runs are kept and how their ids are read: `sync/<destination>/<audience>/runs/<run>.json`.
 * A run id is a base (the day, for the daily refresh, or any name for a manual run) and, for
 * attempts after the first, `-2`, `-3`, ... The engine and the health checks both read run ids
 * through `parseRunKey`, so there is one definition of an attempt.
 */

export interface RunRef {
  key: string;
  runId: string;
  /** The base id: the run id without its attempt suffix. */
  base: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The refresh day when the base is one (`YYYY-MM-DD`). */
  day?: string;
}

const RECORD_RE = /\/runs\/([^/]+)\.json$/;
const ATTEMPT_RE = /^(.+?)-(\d+)$/;
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A run record's key read back, or undefined for other objects under `runs/` (stored plans end
 * in `.jsonl.gz`). A suffix is an attempt only on a day (`2026-11-27-2`) or when the caller knows the base: a manual
 * run may be named `backfill-2`.
 */
export function parseRunKey(key: string, base?: string): RunRef | undefined {
  const m = RECORD_RE.exec(key);
  if (!m) return undefined;
  const runId = m[1]!;
  const suffixed = ATTEMPT_RE.exec(runId);
  const isAttempt =
    suffixed !== null && (base !== undefined ? suffixed[1] === base : DAY_RE.test(suffixed[1]!));
  const runBase = isAttempt ? suffixed![1]! : runId;
  return {
    key,
    runId,
    base: runBase,
    attempt: isAttempt ? Number(suffixed![2]) : 1,
    ...(DAY_RE.test(runBase) ? { day: runBase } : {}),
  };
}

function attemptId(base: string, attempt: number): string {
  return attempt === 1 ? base : `${base}-${attempt}`;
}

/** Every run record of one audience × destination, unordered. */
export async function listRuns(store: ObjectStore, destination: string, audienceId: string, base?: string) {
  const prefix = keys.syncRunsPrefix(destination, audienceId);
  const out: (RunRef & { modified: number })[] = [];
  for await (const info of store.list(base !== undefined ? `${prefix}${base}` : prefix)) {
    const ref = parseRunKey(info.key, base);
    if (!ref || (base !== undefined && ref.base !== base)) continue;
    out.push({ ...ref, modified: info.lastModified?.getTime() ?? 0 });
  }
  return out;
}

/**
 * The newest attempt of a base run id (its record, or undefined when it never ran) and the id a new
 * attempt takes: `base` itself the first time, then `base-2`, ... One listing gives both.
 */
export async function attempts(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  base: string,
): Promise<{ latest: SyncRunRecord | undefined; nextId: string }> {
  let last = 0;
  for (const ref of await listRuns(store, destination, audienceId, base)) last = Math.max(last, ref.attempt);
  const latest =
    last === 0
      ? undefined
      : await readJsonIfExists<SyncRunRecord>(
          store,
          keys.syncRun(destination, audienceId, attemptId(base, last)),
        );
  return { latest, nextId: attemptId(base, last + 1) };
}

/** Where a run's record lives: real runs under `sync/`, dry runs in their outbox. */
export function runRecordKey(
  record: Pick<SyncRunRecord, 'destination' | 'audience_id' | 'run_id' | 'dry_run'>,
) {
  return record.dry_run
    ? keys.outboxRun(record.destination, record.audience_id, record.run_id)
    : keys.syncRun(record.destination, record.audience_id, record.run_id);
}

/** A checkpoint: the record as it stands, whole (atomic on both stores). */
export async function saveRunRecord(store: ObjectStore, record: SyncRunRecord): Promise<void> {
  record.updated_at = new Date().toISOString();
  await writeJson(store, runRecordKey(record), record);
}
