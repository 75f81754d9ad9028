import { dayRange } from '../contract/days.js';
import type { Dataset } from '../contract/records.js';
import type { MalformedLine } from '../people/snapshot.js';
import { keys } from '../storage/keys.js';
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
  /** Lines of the compacted sources (rows + malformed), for line counts in reports. */
  compactedLines: number;
  /** Lines held by each listed Parquet file (its rows plus its sources' malformed lines). */
  parquetLines: Map<string, number>;
}

/** The parts holding a day's records (see the rules above), each list in key order. */
export async function listDayParts(store: ObjectStore, dataset: Dataset, day: string): Promise<DayParts> {
  const manifest = await readCompactionManifest(store, dataset, day);
  const listed = new Map<string, CompactedFile>();
  const compactedSources = new Set<string>();
  for (const f of manifest?.files ?? []) {
    listed.set(f.key, f);
    for (const s of f.sources) compactedSources.add(s);
  }
  const out: DayParts = emptyDayParts();
  for await (const info of store.list(keys.rawPrefix(dataset, day))) {
    if (info.key.endsWith('.jsonl.gz')) {
      if (!compactedSources.has(info.key)) out.jsonl.push(info);
    } else if (info.key.endsWith('.parquet')) {
      const f = listed.get(info.key);
      if (!f) continue;
      out.parquet.push(info);
      out.malformed.push(...f.malformed);
      out.malformedLines += f.malformed_lines;
      out.compactedLines += f.rows + f.malformed_lines;
      out.parquetLines.set(info.key, f.rows + f.malformed_lines);
    }
  }
  return out;
}

/** The parts of every day in `[from, to]`, concatenated in day order. */
export async function listRangeParts(
  store: ObjectStore,
  dataset: Dataset,
  from: string,
  to: string,
): Promise<DayParts> {
  const out = emptyDayParts();
  for (const day of dayRange(from, to)) {
    const d = await listDayParts(store, dataset, day);
    out.jsonl.push(...d.jsonl);
    out.parquet.push(...d.parquet);
    out.malformed.push(...d.malformed);
    out.malformedLines += d.malformedLines;
    out.compactedLines += d.compactedLines;
    for (const [k, n] of d.parquetLines) out.parquetLines.set(k, n);
  }
  return out;
}

function emptyDayParts(): DayParts {
  return {
    jsonl: [],
    parquet: [],
    malformed: [],
    malformedLines: 0,
    compactedLines: 0,
    parquetLines: new Map(),
  };
}
