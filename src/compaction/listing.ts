import type { Dataset } from '../contract/records.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';
import {
  type CompactedFile,
  type CompactionManifest,
  compactionManifestKey,
  listDayParts,
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

/** `listDayParts` plus the manifest entries of the Parquet files it returns. */
export async function listDayPartsDetail(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
): Promise<DayPartsDetail> {
  const [parts, manifest] = await Promise.all([
    listDayParts(store, dataset, day),
    readCompactionManifest(store, dataset, day),
  ]);
  const files = new Map<string, CompactedFile>();
  const listed = new Map((manifest?.files ?? []).map((f) => [f.key, f]));
  for (const p of parts.parquet) {
    const f = listed.get(p.key);
    if (f) files.set(p.key, f);
  }
  return { day, jsonl: parts.jsonl, parquet: parts.parquet, files };
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
  const out: DayPartsDetail[] = [];
  for (const day of [...byDay.keys()].sort()) {
    const listing = byDay.get(day)!;
    const hasManifest = listing.some((o) => o.key === compactionManifestKey(dataset, day));
    const manifest = hasManifest ? await readCompactionManifest(store, dataset, day) : undefined;
    out.push(selectDayParts(day, listing, manifest));
  }
  return out;
}

/** The rules of `listDayParts` applied to one day's listing (in key order) and manifest. */
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
