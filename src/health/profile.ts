import { fileName, isCompactionQuarantine } from '../compaction/listing.js';
import { listDayPartsDetail } from '../compaction/parts.js';
import { RawPartReader } from '../compaction/read.js';
import type { Dataset } from '../contract/records.js';
import { readLines } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, readJsonIfExists, writeJson } from '../storage/object-store.js';
import { partNames } from './parts.js';

/**
 * The shape and volume of one dataset-day: records, which fields they carry, event names (or
 * message channel/metric), quarantine counts by reason. Volume and drift checks compare days by
 * their profiles.
 *
 * Profiles are incremental and cached in the store (`health/profiles/<dataset>/dt=D.json`) with the
 * part names they folded in: a part is read once, so a check that runs every few minutes reads only
 * the parts that arrived since the last run. Memory is bounded by the caps on distinct fields and
 * names, not by the number of records.
 *
 * Raw parts are read in either form (compaction/parts.ts decides which hold the day's records);
 * `raw_parts` names JSON Lines parts, so a compacted Parquet file is read only for the sources a
 * profile has not folded yet, and its rows count like the lines they were.
 */
export const PROFILE_VERSION = 1;
const MAX_FIELDS = 500;
const MAX_NAMES = 1000;

export interface DayProfile {
  version: number;
  dataset: Dataset;
  day: string;
  updated_at: string;
  raw_parts: string[];
  quarantine_parts: string[];
  /** Raw lines (records) in the day's partition. */
  records: number;
  /** Raw lines that are not JSON objects (the build reports them too). */
  unreadable: number;
  /** Field path → records carrying it (`properties.<key>` for events, `attributes.<key>` for people). */
  fields: Record<string, number>;
  /** Event name, or `<channel>/<metric>` for messages → records. */
  names: Record<string, number>;
  /** Occurrences of fields / names beyond the caps (counted, not named). */
  overflow: { fields: number; names: number };
  /** Quarantine lines: records stored without a bad field, and rejected records. */
  quarantined: number;
  rejected: number;
  /** Reason code → quarantine lines carrying it. */
  reasons: Record<string, number>;
}

export function profileKey(dataset: Dataset, day: string): string {
  return `health/profiles/${dataset}/dt=${day}.json`;
}

function emptyProfile(dataset: Dataset, day: string): DayProfile {
  return {
    version: PROFILE_VERSION,
    dataset,
    day,
    updated_at: new Date(0).toISOString(),
    raw_parts: [],
    quarantine_parts: [],
    records: 0,
    unreadable: 0,
    fields: {},
    names: {},
    overflow: { fields: 0, names: 0 },
    quarantined: 0,
    rejected: 0,
    reasons: {},
  };
}

export interface ProfileOptions {
  /** Write the updated profile back (default true). */
  persist?: boolean;
  now?: Date;
  /** Only quarantine parts (metrics: cheap, no raw parts read). */
  quarantineOnly?: boolean;
  /** A profile held in memory by the caller, used instead of reading the stored one. */
  cached?: DayProfile;
}

export interface ProfileResult {
  profile: DayProfile;
  /** Parts that could not be read this time (they are tried again next time). */
  skippedParts: string[];
}

/** Brings the profile of `dataset` on `day` up to date with the parts now in the store. */
export async function profileDay(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
  options: ProfileOptions = {},
): Promise<ProfileResult> {
  const key = profileKey(dataset, day);
  const stored =
    options.cached ??
    (options.persist === false ? undefined : await readJsonIfExists<DayProfile>(store, key));
  const profile = stored && stored.version === PROFILE_VERSION ? clone(stored) : emptyProfile(dataset, day);
  const skippedParts: string[] = [];
  let changed = false;

  if (!options.quarantineOnly) {
    const raw = await profileRawParts(store, dataset, day, profile);
    skippedParts.push(...raw.skipped);
    changed ||= raw.changed;
  }
  const quarantinePrefix = keys.quarantinePrefix(dataset, day);
  const folded = new Set(profile.quarantine_parts);
  for (const name of await partNames(store, quarantinePrefix)) {
    // Malformed lines set aside by compaction are counted as `unreadable` with the raw parts.
    if (folded.has(name) || isCompactionQuarantine(name)) continue;
    // One part into a scratch profile, merged only when the whole part was read: a part that
    // fails half-way is not counted twice when it is read again.
    const part = emptyProfile(dataset, day);
    try {
      for await (const { text } of readLines(store, quarantinePrefix + name)) addQuarantineLine(part, text);
    } catch {
      skippedParts.push(quarantinePrefix + name);
      continue;
    }
    mergeInto(profile, part);
    profile.quarantine_parts.push(name);
    changed = true;
  }
  if (changed) {
    profile.updated_at = (options.now ?? new Date()).toISOString();
    if (options.persist !== false) await writeJson(store, key, profile);
  }
  return { profile, skippedParts };
}

/** Folds the raw parts of the day not folded yet into `profile`, in either form. */
async function profileRawParts(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
  profile: DayProfile,
): Promise<{ changed: boolean; skipped: string[] }> {
  const prefix = keys.rawPrefix(dataset, day);
  const folded = new Set(profile.raw_parts);
  const parts = await listDayPartsDetail(store, dataset, day);
  const skipped: string[] = [];
  let changed = false;
  for (const info of parts.jsonl) {
    const name = info.key.slice(prefix.length);
    if (folded.has(name)) continue;
    // One part into a scratch profile, merged only when the whole part was read: a part that
    // fails half-way is not counted twice when it is read again.
    const part = emptyProfile(dataset, day);
    try {
      for await (const { text } of readLines(store, info.key)) addRawLine(part, text);
    } catch {
      skipped.push(info.key);
      continue;
    }
    mergeInto(profile, part);
    profile.raw_parts.push(name);
    changed = true;
  }
  const reader = new RawPartReader(store);
  try {
    for (const info of parts.parquet) {
      const file = parts.files.get(info.key)!;
      const unfolded = file.sources.filter((s) => !folded.has(fileName(s)));
      if (unfolded.length === 0) continue;
      const part = emptyProfile(dataset, day);
      try {
        const read = reader.read(
          dataset,
          info,
          unfolded.length < file.sources.length ? { sources: unfolded } : {},
        );
        for await (const { record } of read) addRawRecord(part, record);
      } catch {
        skipped.push(info.key);
        continue;
      }
      // Lines of these sources that were not records, as compaction found them.
      const wanted = new Set(unfolded);
      part.unreadable += file.malformed.filter((m) => wanted.has(m.key)).length;
      if (unfolded.length === file.sources.length)
        part.unreadable += file.malformed_lines - file.malformed.length;
      mergeInto(profile, part);
      profile.raw_parts.push(...unfolded.map(fileName));
      changed = true;
    }
  } finally {
    reader.close();
  }
  return { changed, skipped };
}

function addRawLine(p: DayProfile, text: string): void {
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    p.unreadable += 1;
    return;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    p.unreadable += 1;
    return;
  }
  addRawRecord(p, record as Record<string, unknown>);
}

function addRawRecord(p: DayProfile, r: Record<string, unknown>): void {
  p.records += 1;
  for (const field of fieldsOf(p.dataset, r)) bump(p.fields, field, MAX_FIELDS, p.overflow, 'fields');
  const name = nameOf(p.dataset, r);
  if (name !== undefined) bump(p.names, name, MAX_NAMES, p.overflow, 'names');
}

/** Nested maps whose keys are the payload's own fields (where renames happen). */
const NESTED: Readonly<Record<Dataset, readonly string[]>> = {
  events: ['properties'],
  messages: [],
  people: ['attributes', 'consent'],
};

function fieldsOf(dataset: Dataset, r: Record<string, unknown>): string[] {
  const nested = NESTED[dataset];
  const out: string[] = [];
  for (const [k, v] of Object.entries(r)) {
    if (v === undefined || v === null) continue;
    if (nested.includes(k) && typeof v === 'object' && !Array.isArray(v)) {
      for (const [inner, iv] of Object.entries(v as Record<string, unknown>)) {
        if (iv !== undefined && iv !== null) out.push(`${k}.${inner}`);
      }
    } else {
      out.push(k);
    }
  }
  return out;
}

function nameOf(dataset: Dataset, r: Record<string, unknown>): string | undefined {
  if (dataset === 'events') return typeof r.name === 'string' ? r.name : undefined;
  if (dataset === 'messages') return `${String(r.channel ?? '?')}/${String(r.metric ?? '?')}`;
  return undefined;
}

function addQuarantineLine(p: DayProfile, text: string): void {
  let line: { rejected?: unknown; reasons?: unknown };
  try {
    line = JSON.parse(text);
  } catch {
    p.quarantined += 1;
    p.reasons.unreadable = (p.reasons.unreadable ?? 0) + 1;
    return;
  }
  p.quarantined += 1;
  if (line.rejected === true) p.rejected += 1;
  const codes = new Set<string>();
  if (Array.isArray(line.reasons)) {
    for (const reason of line.reasons) {
      const code = (reason as { code?: unknown } | null)?.code;
      // Codes are a closed set in the contract; anything else is folded so labels stay bounded.
      codes.add(typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : 'other');
    }
  }
  if (codes.size === 0) codes.add('unspecified');
  for (const code of codes) p.reasons[code] = (p.reasons[code] ?? 0) + 1;
}

function bump(
  map: Record<string, number>,
  key: string,
  cap: number,
  overflow: DayProfile['overflow'],
  which: keyof DayProfile['overflow'],
): void {
  bumpBy(map, key, 1, cap, overflow, which);
}

/** Distinct keys per map, so the cap test on a new key is O(1) (a record may add many keys). */
const sizes = new WeakMap<Record<string, number>, number>();
function sizeOf(map: Record<string, number>): number {
  let n = sizes.get(map);
  if (n === undefined) {
    n = Object.keys(map).length;
    sizes.set(map, n);
  }
  return n;
}

function mergeInto(target: DayProfile, part: DayProfile): void {
  target.records += part.records;
  target.unreadable += part.unreadable;
  target.quarantined += part.quarantined;
  target.rejected += part.rejected;
  target.overflow.fields += part.overflow.fields;
  target.overflow.names += part.overflow.names;
  for (const [k, v] of Object.entries(part.fields))
    bumpBy(target.fields, k, v, MAX_FIELDS, target.overflow, 'fields');
  for (const [k, v] of Object.entries(part.names))
    bumpBy(target.names, k, v, MAX_NAMES, target.overflow, 'names');
  for (const [k, v] of Object.entries(part.reasons)) target.reasons[k] = (target.reasons[k] ?? 0) + v;
}

function bumpBy(
  map: Record<string, number>,
  key: string,
  n: number,
  cap: number,
  overflow: DayProfile['overflow'],
  which: keyof DayProfile['overflow'],
): void {
  const current = map[key];
  if (current !== undefined) map[key] = current + n;
  else {
    const size = sizeOf(map);
    if (size < cap) {
      map[key] = n;
      sizes.set(map, size + 1);
    } else overflow[which] += n;
  }
}

function clone(p: DayProfile): DayProfile {
  return {
    ...p,
    raw_parts: [...p.raw_parts],
    quarantine_parts: [...p.quarantine_parts],
    fields: { ...p.fields },
    names: { ...p.names },
    overflow: { ...p.overflow },
    reasons: { ...p.reasons },
  };
}
