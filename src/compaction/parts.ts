import type { Dataset } from '../contract/records.js';
import type { MalformedLine } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import { type ObjectInfo, type ObjectStore, readJsonIfExists } from '../storage/object-store.js';

/**
 * Which raw parts of a day hold its records, in either form. Compaction rewrites a closed day's
 * JSON Lines parts as Parquet and records, in `raw/<dataset>/dt=D/_compacted.json` (written after
 * the Parquet file is complete and verified, before any JSON Lines part is deleted), which JSON
 * Lines parts each Parquet file holds. Readers follow that manifest, so every record is read once
 * whatever point a compaction was stopped at:
 * - a Parquet file is read only when the manifest lists it (an unlisted one is an unfinished
 *   write of a stopped run, ignored until the compactor removes it);
 * - a JSON Lines part is read only when no listed Parquet file holds it (a part already compacted
 *   but not yet deleted is skipped; a late part that arrived after compaction is read).
 */

export const COMPACTION_MANIFEST_VERSION = 1;

export interface CompactedFile {
  /** The Parquet object. */
  key: string;
  /** The JSON Lines parts it holds, in key order. */
  sources: string[];
  /** Rows written (verified against the Parquet file before the manifest names it). */
  rows: number;
  /** Lines of the sources that were not records (quarantined), with key and line number. */
  malformed_lines: number;
  malformed: MalformedLine[];
  created_at: string;
  /** How long writing and verifying this file took (absent in manifests written before it was kept). */
  seconds?: number;
}

export interface CompactionManifest {
  version: number;
  dataset: Dataset;
  day: string;
  files: CompactedFile[];
}

export function compactionManifestKey(dataset: Dataset, day: string): string {
  return `${keys.rawPrefix(dataset, day)}_compacted.json`;
}

export function readCompactionManifest(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
): Promise<CompactionManifest | undefined> {
  return readJsonIfExists<CompactionManifest>(store, compactionManifestKey(dataset, day));
}

export interface DayParts {
  jsonl: ObjectInfo[];
  parquet: ObjectInfo[];
  /** Damage found when the Parquet files read here were compacted. */
  malformed: MalformedLine[];
  malformedLines: number;
  /** Lines held by each listed Parquet file (its rows plus its sources' malformed lines). */
  parquetLines: Map<string, number>;
  /** The JSON Lines parts each listed Parquet file holds (its rows' `_key`s), by file key. */
  parquetSources: Map<string, readonly string[]>;
}

/** The parts holding a day's records (see the rules above), each list in key order. */
export async function listDayParts(store: ObjectStore, dataset: Dataset, day: string): Promise<DayParts> {
  return summarize([await listDayPartsDetail(store, dataset, day)]);
}

/** The parts of every day in `[from, to]`, concatenated in day order: one listing of the dataset. */
export async function listRangeParts(
  store: ObjectStore,
  dataset: Dataset,
  from: string,
  to: string,
): Promise<DayParts> {
  return summarize(await listDatasetParts(store, dataset, { from, to }));
}

function summarize(days: readonly DayPartsDetail[]): DayParts {
  const out: DayParts = {
    jsonl: [],
    parquet: [],
    malformed: [],
    malformedLines: 0,
    parquetLines: new Map(),
    parquetSources: new Map(),
  };
  for (const d of days) {
    out.jsonl.push(...d.jsonl);
    out.parquet.push(...d.parquet);
    for (const [key, f] of d.files) {
      out.malformed.push(...f.malformed);
      out.malformedLines += f.malformed_lines;
      out.parquetLines.set(key, f.rows + f.malformed_lines);
      out.parquetSources.set(key, f.sources);
    }
  }
  return out;
}

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
 * Every day partition of a dataset (optionally only days in `[from, to]`), in day order, with the parts
 * that hold its records by the rules of `parts.ts`: a Parquet file only when the day's manifest
 * lists it, a JSON Lines part only when no listed file holds it.
 */
export async function listDatasetParts(
  store: ObjectStore,
  dataset: Dataset,
  options: { from?: string; to?: string } = {},
): Promise<DayPartsDetail[]> {
  const byDay = new Map<string, ObjectInfo[]>();
  for await (const info of store.list(keys.rawPrefix(dataset))) {
    const day = partitionDay(info.key);
    if (!day || (options.to !== undefined && day > options.to)) continue;
    if (options.from !== undefined && day < options.from) continue;
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
 * The rules of `listDayParts` applied to one day's listing (in key order) and manifest.
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
