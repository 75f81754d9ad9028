import { listDayPartsDetail } from '../compaction/parts.js';
import { addDays, today } from '../contract/days.js';
import type { Dataset } from '../contract/records.js';
import { keys } from '../storage/keys.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';

/**
 * When raw parts arrived. Export parts are named after the Redis stream ids they hold
 * (`part-<ms>-<seq>-<ms>-<seq>.jsonl.gz`), so the name says when their newest record reached the
 * buffer — unlike the object's modification time, which a crash-safe rewrite of an old part would
 * refresh. Parts named otherwise (the Customer.io import) fall back to the modification time.
 */
const STREAM_PART_RE = /\/part-(\d{10,16})-\d+-(\d{10,16})-\d+\.jsonl\.gz$/;

export function partArrivalMs(info: ObjectInfo): number | undefined {
  const m = STREAM_PART_RE.exec(info.key);
  if (m) return Number(m[2]);
  return info.lastModified?.getTime();
}

/**
 * When the data of a compacted (Parquet) part arrived: the newest arrival its JSON Lines sources'
 * names say. The file's own modification time is when compaction ran, not when data arrived, so
 * a part whose sources are not named by stream ids has no arrival time (undefined).
 */
export function compactedArrivalMs(sources: readonly string[]): number | undefined {
  let newest: number | undefined;
  for (const key of sources) {
    const m = STREAM_PART_RE.exec(key);
    if (m && (newest === undefined || Number(m[2]) > newest)) newest = Number(m[2]);
  }
  return newest;
}

export interface NewestPart {
  key: string;
  arrivedAtMs: number;
}

/**
 * The most recently arrived raw part of a dataset among the partitions of the last `lookbackDays`
 * days (and tomorrow's, for senders whose clocks run ahead). Partitions are by event time, and
 * fresh data has recent event times, so the newest arrival is found without listing the history.
 */
export async function newestRawPart(
  store: ObjectStore,
  dataset: Dataset,
  now: Date,
  lookbackDays: number,
): Promise<NewestPart | undefined> {
  let newest: NewestPart | undefined;
  const last = addDays(today(now), 1);
  for (let i = 0; i <= lookbackDays + 1; i++) {
    const dt = addDays(last, -i);
    // The parts that hold the day's records, in either form (compaction/parts.ts).
    const parts = await listDayPartsDetail(store, dataset, dt);
    for (const info of parts.jsonl) {
      const at = partArrivalMs(info);
      if (at !== undefined && (!newest || at > newest.arrivedAtMs))
        newest = { key: info.key, arrivedAtMs: at };
    }
    for (const info of parts.parquet) {
      const at = compactedArrivalMs(parts.files.get(info.key)?.sources ?? []);
      if (at !== undefined && (!newest || at > newest.arrivedAtMs))
        newest = { key: info.key, arrivedAtMs: at };
    }
  }
  return newest;
}

/** True when the dataset has any raw part at all (a fresh install has none: nothing is late yet). */
export async function hasAnyRawPart(store: ObjectStore, dataset: Dataset): Promise<boolean> {
  for await (const _ of store.list(keys.rawPrefix(dataset))) return true;
  return false;
}

/** JSON Lines part file names (the last path segment) under a prefix, in key order. */
export async function partNames(store: ObjectStore, prefix: string): Promise<string[]> {
  const names: string[] = [];
  for await (const info of store.list(prefix)) {
    if (info.key.endsWith('.jsonl.gz')) names.push(info.key.slice(prefix.length));
  }
  return names;
}
