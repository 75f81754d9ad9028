import { fileName } from '../compaction/listing.js';
import { compactionManifestKey, readCompactionManifest, selectDayParts } from '../compaction/parts.js';
import { addDays, today } from '../contract/days.js';
import { DATASETS } from '../contract/records.js';
import type { Logger } from '../log.js';
import { type PeopleSnapshotManifest, peopleManifestKey } from '../people/snapshot.js';
import { keys, partitionDay } from '../storage/keys.js';
import { type ObjectInfo, type ObjectStore, readJsonIfExists } from '../storage/object-store.js';
import { parseRunKey } from '../sync/runs.js';
import type { RetentionConfig } from './retention-config.js';

/**
 * The retention sweep (docs/privacy.md, "Retention"): deletes what is older than the limits of
 * `retention:` and reports what it removed. A limit of N days keeps day `today - N` (UTC) and
 * everything newer; `today - N - 1` and older go.
 *
 * | kind         | limit             | unit removed                                        | its day                    |
 * | ------------ | ----------------- | --------------------------------------------------- | -------------------------- |
 * | `raw`        | `raw_days`        | `raw/<dataset>/dt=D/` (JSON Lines, Parquet, manifest) | D                        |
 * | `raw`        | `raw_days`        | `cache/relevant/<dataset>/dt=D/` (derived from them)  | D                        |
 * | `people`     | `raw_days`        | `people/dt=D/` (snapshot and manifest)               | D                          |
 * | `audiences`  | `raw_days`        | `audiences/<id>/dt=D/` (members and manifest)        | D                          |
 * | `quarantine` | `quarantine_days` | `quarantine/<dataset>/dt=D/`                         | D                          |
 * | `outbox`     | `outbox_days`     | `outbox/<destination>/<id>/<run>/` (a dry run)       | its newest object's UTC day |
 * | `runs`       | `runs_days`       | `sync/<destination>/<id>/runs/<run>.*` (record, plans) | the run's day, else its newest object's |
 *
 * Kept whatever their age: the newest complete people snapshot (the next snapshot is folded onto
 * it), the newest built snapshot of each audience (the next build reads it for `entered`), the
 * runs of the newest run day of each audience × destination, and raw person partitions holding a
 * part the newest people snapshot has not folded yet (their identities would be lost). Ledgers,
 * `state.json`, lift reports, health state, imports and the suppression list are never touched.
 *
 * Kill-safe and idempotent: a unit's marker (the manifest readers go by, or the run record) is
 * deleted before the rest of it, so a half-deleted unit is never read as complete, and whatever a
 * killed run left is still older than the limit and goes on the next run.
 */

export const RETENTION_KINDS = ['raw', 'people', 'audiences', 'quarantine', 'outbox', 'runs'] as const;
export type RetentionKind = (typeof RETENTION_KINDS)[number];

const SETTING: Record<RetentionKind, keyof RetentionConfig> = {
  raw: 'raw_days',
  people: 'raw_days',
  audiences: 'raw_days',
  quarantine: 'quarantine_days',
  outbox: 'outbox_days',
  runs: 'runs_days',
};

export interface RetentionKindReport {
  kind: RetentionKind;
  setting: keyof RetentionConfig;
  limit_days: number;
  /** The oldest day kept (`today - limit_days`); older days are removed. */
  keep_from: string;
  /** Units removed: day partitions, or runs (outbox and runs). */
  units: number;
  keys_deleted: number;
  bytes: number;
  /** Oldest and newest day among the removed units (null when nothing was removed). */
  oldest_day: string | null;
  newest_day: string | null;
  /** Units older than the limit kept on purpose (newest snapshot or run day, unfolded person parts). */
  kept: number;
  /** The removed units by key prefix (`raw/events/dt=2025-01-01/`, `sync/meta/a/runs/2025-01-01`). */
  removed: string[];
}

export interface RetentionReport {
  now: string;
  today: string;
  dry_run: boolean;
  kinds: RetentionKindReport[];
  units: number;
  keys_deleted: number;
  bytes: number;
  seconds: number;
}

export interface RunRetentionOptions {
  store: ObjectStore;
  config: RetentionConfig;
  now?: Date;
  /** Report what would be removed; delete nothing. */
  dryRun?: boolean;
  log?: Logger;
}

/** What the sweep removes as one: a partition or a run. */
interface Unit {
  label: string;
  day: string;
  objects: ObjectInfo[];
  /** Keys deleted before the others (what readers take as "complete"). */
  markers: string[];
}

interface Partition {
  day: string;
  objects: ObjectInfo[];
}
/** By partition prefix (`raw/events/dt=2025-01-01/`). */
type Partitions = Map<string, Partition>;

interface Selection {
  units: Unit[];
  kept: number;
}

const DT_PARTITION_RE = /^(.*?\/dt=(\d{4}-\d{2}-\d{2})\/)/;
const OUTBOX_RUN_RE = /^(outbox\/[^/]+\/[^/]+\/[^/]+\/)/;
const RUN_OBJECT_RE =
  /^(sync\/[^/]+\/[^/]+\/runs\/)([^/]+?)(\.json|\.removes\.jsonl\.gz|\.adds\.jsonl\.gz|\.plan\.jsonl\.gz)$/;

export async function runRetention(options: RunRetentionOptions): Promise<RetentionReport> {
  const started = process.hrtime.bigint();
  const { store, config } = options;
  const now = options.now ?? new Date();
  const day = today(now);
  const dryRun = options.dryRun === true;
  const keepFrom = (kind: RetentionKind) => addDays(day, -config[SETTING[kind]]);

  const selectors: Record<RetentionKind, (keepFrom: string) => Promise<Selection>> = {
    raw: (from) => selectRaw(store, from),
    people: (from) => selectPeople(store, from),
    audiences: (from) => selectAudiences(store, from),
    quarantine: (from) => selectPartitions(store, 'quarantine/', from),
    outbox: (from) => selectOutbox(store, from),
    runs: (from) => selectRuns(store, from),
  };

  const kinds: RetentionKindReport[] = [];
  for (const kind of RETENTION_KINDS) {
    const from = keepFrom(kind);
    const { units, kept } = await selectors[kind](from);
    units.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    if (!dryRun) await deleteUnits(store, units);
    const days = units.map((u) => u.day).sort();
    kinds.push({
      kind,
      setting: SETTING[kind],
      limit_days: config[SETTING[kind]],
      keep_from: from,
      units: units.length,
      keys_deleted: units.reduce((n, u) => n + u.objects.length, 0),
      bytes: units.reduce((n, u) => n + u.objects.reduce((m, o) => m + o.size, 0), 0),
      oldest_day: days[0] ?? null,
      newest_day: days.at(-1) ?? null,
      kept,
      removed: units.map((u) => u.label),
    });
  }
  const report: RetentionReport = {
    now: now.toISOString(),
    today: day,
    dry_run: dryRun,
    kinds,
    units: kinds.reduce((n, k) => n + k.units, 0),
    keys_deleted: kinds.reduce((n, k) => n + k.keys_deleted, 0),
    bytes: kinds.reduce((n, k) => n + k.bytes, 0),
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
  // Counts only: keys name audiences, destinations and runs, and the log needs none of them.
  options.log?.info(
    {
      dry_run: dryRun,
      keys_deleted: report.keys_deleted,
      bytes: report.bytes,
      kinds: Object.fromEntries(
        kinds.map((k) => [
          k.kind,
          { limit_days: k.limit_days, units: k.units, keys: k.keys_deleted, bytes: k.bytes, kept: k.kept },
        ]),
      ),
    },
    dryRun ? 'retention dry run: nothing deleted' : 'retention done',
  );
  return report;
}

/** Deletes units a batch at a time (up to 1,000 keys, one S3 request): markers first, then the rest. */
async function deleteUnits(store: ObjectStore, units: readonly Unit[]): Promise<void> {
  let batch: Unit[] = [];
  let size = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const markers = batch.flatMap((u) => u.markers);
    const marked = new Set(markers);
    const rest = batch.flatMap((u) => u.objects.map((o) => o.key).filter((k) => !marked.has(k)));
    if (markers.length > 0) await store.delete(markers);
    if (rest.length > 0) await store.delete(rest);
    batch = [];
    size = 0;
  };
  for (const unit of units) {
    if (size > 0 && size + unit.objects.length > 1000) await flush();
    batch.push(unit);
    size += unit.objects.length;
  }
  await flush();
}

/** The `dt=` partitions under `prefix`, by partition prefix (keys outside a partition are left out). */
async function listPartitions(store: ObjectStore, prefix: string, stopAt?: string): Promise<Partitions> {
  const out: Partitions = new Map();
  for await (const info of store.list(prefix)) {
    const m = DT_PARTITION_RE.exec(info.key);
    if (!m) continue;
    const day = m[2]!;
    // Keys come in key order, which is day order within one dataset: the rest are all kept.
    if (stopAt !== undefined && day >= stopAt) break;
    let p = out.get(m[1]!);
    if (!p) {
      p = { day, objects: [] };
      out.set(m[1]!, p);
    }
    p.objects.push(info);
  }
  return out;
}

function partitionUnit(label: string, p: Partition, marker?: string): Unit {
  const markers = marker && p.objects.some((o) => o.key === marker) ? [marker] : [];
  return { label, day: p.day, objects: p.objects, markers };
}

async function selectPartitions(store: ObjectStore, prefix: string, keepFrom: string): Promise<Selection> {
  const units: Unit[] = [];
  for (const [label, p] of await listPartitions(store, prefix)) {
    if (p.day < keepFrom) units.push(partitionUnit(label, p));
  }
  return { units, kept: 0 };
}

/** The newest day with a complete people snapshot (its manifest is written last), any age. */
async function newestPeopleSnapshot(store: ObjectStore): Promise<string | undefined> {
  let newest: string | undefined;
  for await (const info of store.list(keys.peoplePrefix())) {
    const day = partitionDay(info.key);
    if (day && info.key === peopleManifestKey(day) && (!newest || day > newest)) newest = day;
  }
  return newest;
}

async function selectRaw(store: ObjectStore, keepFrom: string): Promise<Selection> {
  const units: Unit[] = [];
  let kept = 0;
  let folded: Record<string, string[]> | undefined;
  for (const dataset of DATASETS) {
    const partitions = await listPartitions(store, keys.rawPrefix(dataset), keepFrom);
    if (dataset === 'people' && partitions.size > 0) {
      const newest = await newestPeopleSnapshot(store);
      const manifest = newest
        ? await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(newest))
        : undefined;
      folded = manifest?.folded ?? {};
    }
    for (const [label, p] of partitions) {
      const marker = compactionManifestKey(dataset, p.day);
      if (dataset === 'people' && !(await allFolded(store, p, folded ?? {}))) {
        kept += 1;
        continue;
      }
      units.push(partitionUnit(label, p, marker));
    }
  }
  // The relevant-record cache holds the records of raw files: it goes with their days.
  for (const dataset of ['events', 'messages'] as const)
    for (const [label, p] of await listPartitions(store, keys.relevantCachePrefix(dataset), keepFrom))
      units.push(partitionUnit(label, p));
  return { units, kept };
}

/**
 * Whether every person part of a raw people partition (JSON Lines parts readers would read, and the
 * sources of listed Parquet files) is folded into the newest people snapshot.
 */
async function allFolded(
  store: ObjectStore,
  p: Partition,
  folded: Record<string, string[]>,
): Promise<boolean> {
  const hasManifest = p.objects.some((o) => o.key === compactionManifestKey('people', p.day));
  const manifest = hasManifest ? await readCompactionManifest(store, 'people', p.day) : undefined;
  const parts = selectDayParts(p.day, p.objects, manifest);
  const names = new Set(folded[p.day] ?? []);
  const sources = [...parts.jsonl.map((o) => o.key), ...[...parts.files.values()].flatMap((f) => f.sources)];
  return sources.every((key) => names.has(fileName(key)));
}

async function selectPeople(store: ObjectStore, keepFrom: string): Promise<Selection> {
  const selection = selectSnapshots(await listPartitions(store, keys.peoplePrefix()), keepFrom);
  // The people cache holds the rows of snapshots: derived, it goes by their limit (builds also
  // delete the entries no later build reads).
  for (const [label, p] of await listPartitions(store, keys.peopleCachePrefix(), keepFrom))
    selection.units.push(partitionUnit(label, p));
  return selection;
}

async function selectAudiences(store: ObjectStore, keepFrom: string): Promise<Selection> {
  const byAudience = new Map<string, Partitions>();
  for (const [label, p] of await listPartitions(store, 'audiences/')) {
    const id = label.split('/')[1]!;
    const partitions = byAudience.get(id) ?? new Map();
    partitions.set(label, p);
    byAudience.set(id, partitions);
  }
  const out: Selection = { units: [], kept: 0 };
  for (const partitions of byAudience.values()) {
    const { units, kept } = selectSnapshots(partitions, keepFrom);
    out.units.push(...units);
    out.kept += kept;
  }
  return out;
}

/**
 * Snapshot partitions (`people/dt=D/`, `audiences/<id>/dt=D/`) older than `keepFrom`, except the
 * newest complete one: the one whose `manifest.json` (written last) exists.
 */
function selectSnapshots(partitions: Partitions, keepFrom: string): Selection {
  const manifestOf = (label: string) => `${label}manifest.json`;
  let newest: string | undefined;
  for (const [label, p] of partitions) {
    if (p.objects.some((o) => o.key === manifestOf(label)) && (!newest || p.day > newest)) newest = p.day;
  }
  const out: Selection = { units: [], kept: 0 };
  for (const [label, p] of partitions) {
    if (p.day >= keepFrom) continue;
    if (p.day === newest) out.kept += 1;
    else out.units.push(partitionUnit(label, p, manifestOf(label)));
  }
  return out;
}

/** The UTC day of the newest object, or undefined when a store does not say when one was written. */
function writtenDay(objects: readonly ObjectInfo[]): string | undefined {
  let newest = 0;
  for (const o of objects) {
    const t = o.lastModified?.getTime();
    if (t === undefined || !Number.isFinite(t)) return undefined;
    newest = Math.max(newest, t);
  }
  return today(new Date(newest));
}

async function selectOutbox(store: ObjectStore, keepFrom: string): Promise<Selection> {
  const runs = new Map<string, ObjectInfo[]>();
  for await (const info of store.list('outbox/')) {
    const m = OUTBOX_RUN_RE.exec(info.key);
    if (!m) continue;
    const list = runs.get(m[1]!) ?? [];
    list.push(info);
    runs.set(m[1]!, list);
  }
  const units: Unit[] = [];
  for (const [label, objects] of runs) {
    const day = writtenDay(objects);
    if (day === undefined || day >= keepFrom) continue;
    const record = `${label}run.json`;
    units.push({ label, day, objects, markers: objects.some((o) => o.key === record) ? [record] : [] });
  }
  return { units, kept: 0 };
}

async function selectRuns(store: ObjectStore, keepFrom: string): Promise<Selection> {
  // runs/ prefix → run id → its objects.
  const pairs = new Map<string, Map<string, ObjectInfo[]>>();
  for await (const info of store.list('sync/')) {
    const m = RUN_OBJECT_RE.exec(info.key);
    if (!m) continue;
    const [, prefix, runId] = m as unknown as [string, string, string];
    let runs = pairs.get(prefix);
    if (!runs) {
      runs = new Map();
      pairs.set(prefix, runs);
    }
    const list = runs.get(runId) ?? [];
    list.push(info);
    runs.set(runId, list);
  }
  const units: Unit[] = [];
  let kept = 0;
  for (const [prefix, runs] of pairs) {
    const dated: { runId: string; day: string | undefined; objects: ObjectInfo[] }[] = [];
    for (const [runId, objects] of runs) {
      // A day run (`2026-11-28`, `2026-11-28-2`) is of its day; any other of when it was written.
      const day = parseRunKey(`${prefix}${runId}.json`)?.day ?? writtenDay(objects);
      dated.push({ runId, day, objects });
    }
    const newest = dated.reduce<string | undefined>(
      (n, r) => (r.day !== undefined && (!n || r.day > n) ? r.day : n),
      undefined,
    );
    for (const r of dated) {
      if (r.day === undefined || r.day >= keepFrom) continue;
      if (r.day === newest) {
        kept += 1;
        continue;
      }
      const record = `${prefix}${r.runId}.json`;
      units.push({
        label: `${prefix}${r.runId}`,
        day: r.day,
        objects: r.objects,
        markers: r.objects.some((o) => o.key === record) ? [record] : [],
      });
    }
  }
  return { units, kept };
}
