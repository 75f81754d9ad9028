import type { AudienceDefinition } from '../audiences/config.js';
import type { AudienceManifest } from '../audiences/manifest.js';
import { builtDays, latestBuiltDay, readManifest, readMembers } from '../audiences/members.js';
import { closesAt, isClosed } from '../compaction/config.js';
import { listDayPartsDetail } from '../compaction/parts.js';
import type { AudienceSyncConfig } from '../config-file.js';
import { DATASETS, type Dataset, type MemberRecord } from '../contract/records.js';
import { type AlertRecord, readAlertState } from '../health/alerts.js';
import { compactedArrivalMs, newestRawPart, partArrivalMs } from '../health/parts.js';
import { type DayProfile, PROFILE_VERSION, profileKey } from '../health/profile.js';
import { recentRuns } from '../health/sync-runs.js';
import type { LiftReport } from '../measure/report.js';
import { type PeopleSnapshotManifest, peopleManifestKey } from '../people/snapshot.js';
import { syncTargets } from '../pipeline/targets.js';
import { keys, partitionDay } from '../storage/keys.js';
import { type ObjectStore, readJsonIfExists } from '../storage/object-store.js';
import type { SyncRunRecord } from '../sync/run-record.js';

/**
 * What the console pages show, read from durable state only (the object store): people and
 * audience manifests, sync run records, lift reports and `health/alerts.json`. Counts, days,
 * customer ids and codes; never an identifier (the records read here hold none).
 */

/** Days shown on the overview and in charts. */
export const HISTORY_DAYS = 14;

export type StageStatus = 'done' | 'failed' | 'running' | 'blocked' | 'missing';

export interface StageRow {
  name: string;
  status: StageStatus;
  durationMs: number | null;
  detail: string;
}

export interface DayRow {
  day: string;
  stages: StageRow[];
}

async function peopleDays(store: ObjectStore): Promise<string[]> {
  const days = new Set<string>();
  for await (const info of store.list(keys.peoplePrefix())) {
    if (!info.key.endsWith('/manifest.json')) continue;
    const dt = partitionDay(info.key);
    if (dt) days.add(dt);
  }
  return [...days].sort();
}

const runStatus = (r: SyncRunRecord): StageStatus =>
  r.status === 'completed'
    ? 'done'
    : r.status === 'failed'
      ? 'failed'
      : r.status === 'blocked'
        ? 'blocked'
        : 'running';

const clock = (ms: number) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

/**
 * The export and the compaction of one day, from its raw partitions. The export drains the ingest
 * buffers all day long, so it has no duration of its own: its row says how many parts landed and
 * when the newest arrived. Compaction records how long each Parquet file took in the day's
 * manifest.
 */
async function rawStages(
  store: ObjectStore,
  day: string,
  now: Date,
  graceHours: number,
): Promise<StageRow[]> {
  const perDataset = await Promise.all(DATASETS.map((d) => listDayPartsDetail(store, d, day)));
  let parts = 0;
  let newest: number | undefined;
  const counts: string[] = [];
  let withData = 0;
  let compacted = 0;
  let pendingLate = 0;
  let rows = 0;
  let malformed = 0;
  let seconds: number | null = 0;
  for (const [i, detail] of perDataset.entries()) {
    const files = [...detail.files.values()];
    const n = detail.jsonl.length + files.reduce((a, f) => a + f.sources.length, 0);
    if (n === 0) continue;
    withData += 1;
    parts += n;
    counts.push(`${DATASETS[i]} ${n}`);
    for (const info of detail.jsonl) newest = Math.max(newest ?? 0, partArrivalMs(info) ?? 0);
    for (const f of files) newest = Math.max(newest ?? 0, compactedArrivalMs(f.sources) ?? 0);
    if (files.length > 0) {
      compacted += 1;
      if (detail.jsonl.length > 0) pendingLate += 1;
    }
    for (const f of files) {
      rows += f.rows;
      malformed += f.malformed_lines;
      seconds = typeof f.seconds === 'number' && seconds !== null ? seconds + f.seconds : null;
    }
  }
  if (withData === 0) {
    return [
      { name: 'export', status: 'missing', durationMs: null, detail: 'no raw data for this day' },
      { name: 'compact', status: 'missing', durationMs: null, detail: 'nothing to compact' },
    ];
  }
  const closed = isClosed(day, now, graceHours);
  const exportRow: StageRow = {
    name: 'export',
    status: closed || compacted > 0 ? 'done' : 'running',
    durationMs: null,
    detail: `${parts} parts (${counts.join(', ')})${newest ? `, newest arrived ${clock(newest)} UTC` : ''}${closed ? '' : ', day still open'}`,
  };
  const compactRow: StageRow =
    compacted === 0
      ? {
          name: 'compact',
          status: 'missing',
          durationMs: null,
          detail: closed
            ? 'closed but not compacted yet'
            : `not yet: the day closes ${clock(closesAt(day, graceHours).getTime())} UTC`,
        }
      : {
          name: 'compact',
          status: compacted === withData && pendingLate === 0 ? 'done' : 'running',
          durationMs: seconds === null || compacted < withData ? null : seconds * 1000,
          detail: `${compacted} of ${withData} datasets as Parquet, ${rows} rows, ${malformed} malformed lines${pendingLate > 0 ? `, late parts pending in ${pendingLate}` : ''}`,
        };
  return [exportRow, compactRow];
}

/**
 * The refresh per day, newest first: export and compaction (from the raw partitions), people
 * snapshot, build of each audience, each sync (the last attempt of the day) and measurement (a
 * lift report for the day).
 */
export async function refreshHistory(
  store: ObjectStore,
  config: AudienceSyncConfig,
  now: Date = new Date(),
): Promise<DayRow[]> {
  const people = await peopleDays(store);
  const built = new Map<string, Set<string>>();
  for (const a of config.audiences) built.set(a.id, new Set(await builtDays(store, a.id)));
  const runsByTarget = new Map<string, SyncRunRecord[]>();
  for (const t of syncTargets(config.audiences)) {
    runsByTarget.set(
      `${t.audienceId}\u0000${t.destination}`,
      await recentRuns(store, t.destination, t.audienceId, HISTORY_DAYS * 3),
    );
  }
  const days = new Set<string>(people);
  for (const set of built.values()) for (const d of set) days.add(d);
  for (const runs of runsByTarget.values()) for (const r of runs) days.add(r.day);
  const shown = [...days].sort().reverse().slice(0, HISTORY_DAYS);

  const rows: DayRow[] = [];
  for (const day of shown) {
    const stages: StageRow[] = await rawStages(store, day, now, config.compaction.grace_hours);
    const pm = people.includes(day)
      ? await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(day))
      : undefined;
    stages.push(
      pm
        ? {
            name: 'people',
            status: 'done',
            durationMs: typeof pm.seconds === 'number' ? pm.seconds * 1000 : null,
            detail: `${pm.people} people`,
          }
        : { name: 'people', status: 'missing', durationMs: null, detail: 'no snapshot' },
    );
    for (const a of config.audiences) {
      const m = built.get(a.id)?.has(day) ? await readManifest(store, a.id, day) : undefined;
      stages.push(
        m
          ? {
              name: `build ${a.id}`,
              status: 'done',
              durationMs: buildMs(m),
              detail: `${m.counts.treatment} treatment, ${m.counts.holdout} holdout`,
            }
          : { name: `build ${a.id}`, status: 'missing', durationMs: null, detail: 'not built' },
      );
    }
    for (const t of syncTargets(config.audiences)) {
      const runs = runsByTarget.get(`${t.audienceId}\u0000${t.destination}`) ?? [];
      // recentRuns is newest first: the first of the day is its last attempt.
      const r = runs.find((x) => x.day === day);
      stages.push(
        r
          ? {
              name: `sync ${t.audienceId} → ${t.destination}`,
              status: runStatus(r),
              durationMs: r.timings_ms?.total ?? null,
              detail: `+${r.plan.add} −${r.plan.remove}, ${r.requests} requests${r.error ? `, ${r.error.kind}` : ''}`,
            }
          : {
              name: `sync ${t.audienceId} → ${t.destination}`,
              status: 'missing',
              durationMs: null,
              detail: 'no run',
            },
      );
    }
    for (const a of config.audiences.filter((x) => (x.holdout?.fraction ?? 0) > 0)) {
      const lift = await readJsonIfExists<LiftReport>(store, keys.liftReport(a.id, day, 'json'));
      stages.push({
        name: `measure ${a.id}`,
        status: lift ? 'done' : 'missing',
        durationMs: null,
        detail: lift ? 'lift report written' : 'no lift report',
      });
    }
    rows.push({ day, stages });
  }
  return rows;
}

function buildMs(m: AudienceManifest): number | null {
  const t = m.timings;
  if (!t) return null;
  return (t.snapshot_seconds + t.scan_seconds + t.evaluate_seconds + t.write_seconds) * 1000;
}

/** Alerts firing now, critical first. */
export async function openAlerts(store: ObjectStore): Promise<AlertRecord[]> {
  const state = await readAlertState(store);
  const rank = { critical: 0, warning: 1, info: 2 } as const;
  return Object.values(state.alerts)
    .filter((a) => a.status === 'firing')
    .sort((a, b) => rank[a.severity] - rank[b.severity] || a.id.localeCompare(b.id));
}

export interface SizePoint {
  day: string;
  treatment: number;
  holdout: number;
  eligible: number;
}

/** Treatment and holdout size per built day, the last HISTORY_DAYS * 2 days, oldest first. */
export async function sizeHistory(
  store: ObjectStore,
  audienceId: string,
): Promise<{ points: SizePoint[]; latest?: AudienceManifest }> {
  const days = (await builtDays(store, audienceId)).slice(-HISTORY_DAYS * 2);
  const points: SizePoint[] = [];
  let latest: AudienceManifest | undefined;
  for (const day of days) {
    const m = await readManifest(store, audienceId, day);
    if (!m) continue;
    points.push({
      day,
      treatment: m.counts.treatment,
      holdout: m.counts.holdout,
      eligible: m.counts.eligible,
    });
    latest = m;
  }
  return latest ? { points, latest } : { points };
}

export function findAudience(config: AudienceSyncConfig, id: string): AudienceDefinition | undefined {
  return config.audiences.find((a) => a.id === id);
}

/** The sync runs of one audience × destination, newest first (dry runs are not among them). */
export function runHistory(store: ObjectStore, destination: string, audienceId: string) {
  return recentRuns(store, destination, audienceId, HISTORY_DAYS * 3);
}

export interface Membership {
  audienceId: string;
  /** The audience's latest built day, when it was ever built. */
  day?: string;
  /** The person's line in that day's members, when they are a member. */
  member?: MemberRecord;
}

/**
 * Whether a customer id is among the members of each configured audience on its latest built day
 * (the member line: group, rank, score, entered). Reads each members file until the id is found.
 */
export async function membershipsOf(
  store: ObjectStore,
  config: AudienceSyncConfig,
  customerId: string,
): Promise<Membership[]> {
  const out: Membership[] = [];
  for (const a of config.audiences) {
    const day = await latestBuiltDay(store, a.id);
    if (!day) {
      out.push({ audienceId: a.id });
      continue;
    }
    let member: MemberRecord | undefined;
    for await (const m of readMembers(store, a.id, day)) {
      if (m.customer_id === customerId) {
        member = m;
        break;
      }
    }
    out.push({ audienceId: a.id, day, ...(member ? { member } : {}) });
  }
  return out;
}

export interface DatasetHealth {
  dataset: Dataset;
  freshness: {
    /** `health.freshness.<dataset>` in minutes; null when the dataset is not checked. */
    limitMinutes: number | null;
    /** When the newest raw part arrived (within the last HISTORY_DAYS days of partitions). */
    newestAtMs?: number;
    ageMs?: number;
    late: boolean;
  };
  /** The stored data profiles of the newest HISTORY_DAYS days, newest first. */
  days: DayProfile[];
}

/**
 * Freshness, volume and quarantine per dataset and day, from what the health checks keep: the day
 * profiles (`health/profiles/<dataset>/dt=D.json`, brought up to date by every health run) and the
 * newest raw part's arrival (its name, as the freshness check reads it). No raw or quarantined
 * record is read here; a profile holds counts and reason codes only.
 */
export async function dataHealth(
  store: ObjectStore,
  config: AudienceSyncConfig,
  now: Date = new Date(),
): Promise<DatasetHealth[]> {
  const out: DatasetHealth[] = [];
  for (const dataset of DATASETS) {
    const prefix = profileKey(dataset, '').replace(/dt=\.json$/, '');
    const days: string[] = [];
    for await (const info of store.list(prefix)) {
      const m = /dt=(\d{4}-\d{2}-\d{2})\.json$/.exec(info.key);
      if (m) days.push(m[1]!);
    }
    const profiles: DayProfile[] = [];
    for (const day of days.sort().reverse().slice(0, HISTORY_DAYS)) {
      const p = await readJsonIfExists<DayProfile>(store, profileKey(dataset, day));
      if (p && p.version === PROFILE_VERSION) profiles.push(p);
    }
    const limitMinutes = config.health.freshness[dataset];
    const newest = await newestRawPart(store, dataset, now, HISTORY_DAYS);
    const ageMs = newest ? Math.max(0, now.getTime() - newest.arrivedAtMs) : undefined;
    out.push({
      dataset,
      freshness: {
        limitMinutes,
        ...(newest ? { newestAtMs: newest.arrivedAtMs, ageMs: ageMs! } : {}),
        late: limitMinutes !== null && (ageMs === undefined || ageMs > limitMinutes * 60_000),
      },
      days: profiles,
    });
  }
  return out;
}
