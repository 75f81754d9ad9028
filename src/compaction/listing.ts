import type { Dataset } from '../contract/records.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import {
  type CompactedFile,
  type CompactionManifest,
  compactionManifestKey,
  readCompactionManifest,
} from './parts.js';

/**
 * The reader rules of `parts.ts` (`listDayParts`) with what the incremental readers also need:
 * the manifest entry of each Parquet file they read (its `sources`: a Parquet part counts as
 * already read when every JSON Lines part it holds was), and, for readers of a whole dataset, one
 * listing for every day instead of one per day (manifests are fetched only for the days that have
 * one).
 */

export interface DayPartsDetail {
  day: string;
  /** JSON Lines parts no listed Parquet file holds, in key order. */
  jsonl: ObjectInfo[];
  /** Parquet files the manifest lists, in key order. */
  parquet: ObjectInfo[];
  /** The manifest entry of each of those Parquet files, by key. */
  files: Map<string, CompactedFile>;
}

/**
 * `listDayParts` plus the manifest entries of the Parquet files it returns: one listing, and the
 * manifest is fetched only when the listing has one.
 */
export async function listDayPartsDetail(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
): Promise<DayPartsDetail> {
  const listing: ObjectInfo[] = [];
  for await (const info of store.list(keys.rawPrefix(dataset, day))) listing.push(info);
  const hasManifest = listing.some((o) => o.key === compactionManifestKey(dataset, day));
  const manifest = hasManifest ? await readCompactionManifest(store, dataset, day) : undefined;
  return selectDayParts(day, listing, manifest);
}

/**
 * Every day partition of a dataset (optionally only days `<= to`), in day order, with the parts
 * that hold its records by the rules of `parts.ts`: a Parquet file only when the day's manifest
 * lists it, a JSON Lines part only when no listed file holds it.
 */
export async function listDatasetParts(
  store: ObjectStore,
  dataset: Dataset,
  options: { to?: string } = {},
): Promise<DayPartsDetail[]> {
  const byDay = new Map<string, ObjectInfo[]>();
  for await (const info of store.list(keys.rawPrefix(dataset))) {
    const day = partitionDay(info.key);
    if (!day || (options.to !== undefined && day > options.to)) continue;
    let list = byDay.get(day);
    if (!list) {
      list = [];
      byDay.set(day, list);
    }
    list.push(info);
  }
  const days = [...byDay.keys()].sort();
  const out: DayPartsDetail[] = new Array(days.length);
  // Manifests are small: a few at a time, so a long compacted history is not one GET after another.
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < days.length; i = next++) {
      const day = days[i]!;
      const listing = byDay.get(day)!;
      const hasManifest = listing.some((o) => o.key === compactionManifestKey(dataset, day));
      const manifest = hasManifest ? await readCompactionManifest(store, dataset, day) : undefined;
      out[i] = selectDayParts(day, listing, manifest);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, days.length) }, lane));
  return out;
}

/**
 * The rules of `listDayParts` applied to one day's listing (in key order) and manifest. Kept in
 * step with parts.ts (test/compaction/readers.test.ts compares the two).
 */
export function selectDayParts(
  day: string,
  listing: readonly ObjectInfo[],
  manifest: CompactionManifest | undefined,
): DayPartsDetail {
  const listed = new Map<string, CompactedFile>();
  const compactedSources = new Set<string>();
  for (const f of manifest?.files ?? []) {
    listed.set(f.key, f);
    for (const s of f.sources) compactedSources.add(s);
  }
  const out: DayPartsDetail = { day, jsonl: [], parquet: [], files: new Map() };
  for (const info of listing) {
    if (info.key.endsWith('.jsonl.gz')) {
      if (!compactedSources.has(info.key)) out.jsonl.push(info);
    } else if (info.key.endsWith('.parquet')) {
      const f = listed.get(info.key);
      if (!f) continue;
      out.parquet.push(info);
      out.files.set(info.key, f);
    }
  }
  return out;
}

/** The last path segment of a key (what incremental readers bookkeep per partition). */
export function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Names compaction writes: `part-c-<16 hex>.parquet` in raw partitions, `.jsonl.gz` in quarantine. */
export const COMPACTED_NAME_RE = /(?:^|\/)part-c-([0-9a-f]{16})\.(parquet|jsonl\.gz)$/;

/**
 * Whether a quarantine object holds the malformed lines compaction set aside. Those lines are
 * already counted where the raw parts are read (the manifest lists them), so counting them again
 * as quarantined records would count them twice.
 */
export function isCompactionQuarantine(key: string): boolean {
  return key.endsWith('.jsonl.gz') && COMPACTED_NAME_RE.test(key);
}
