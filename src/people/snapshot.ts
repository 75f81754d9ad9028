import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { fileName } from '../compaction/listing.js';
import { listDatasetParts } from '../compaction/parts.js';
import type { PersonRecord } from '../contract/records.js';
import type { EngineSettings } from '../engine/duckdb.js';
import {
  type MalformedLine,
  type OutLine,
  openGzipLinesWriter,
  readJsonl,
  readLineBatches,
  writeGzipLineBatches,
} from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import {
  listKeys,
  type ObjectStore,
  objectVersion,
  readJsonIfExists,
  statObject,
  writeJson,
} from '../storage/object-store.js';
import {
  applyUpdate,
  asPersonUpdate,
  emptyPerson,
  type FlatPerson,
  flattenSnapshotPerson,
  mergeFields,
  mergeInto,
  type SnapshotPerson,
  toSnapshotPerson,
} from './merge.js';
import { peekSnapshotBytes } from './snapshot-line.js';
import { loadPersonUpdates, type PersonUpdateRow, type SourceUnit } from './updates.js';

/**
 * The identity snapshot `people/dt=D/people.jsonl.gz`: every known person as of the end of day D,
 * one line each, sorted by `customer_id`, latest value per field.
 *
 * Incremental: the snapshot of D starts from the latest snapshot before D and folds in every raw
 * person part (with `dt <= D`) that snapshot has not folded yet — late parts included. Which parts
 * a snapshot holds is recorded next to it in `people/dt=D/manifest.json`, so a part that lands late
 * in an old partition reaches the next snapshot. Memory grows with the people updated since the base,
 * not with everyone: unchanged lines are streamed through as text.
 *
 * Raw parts are read in either form (compaction/parts.ts decides which parts hold a day's records).
 * The bookkeeping is by JSON Lines part name: a compacted Parquet file counts as folded when every
 * part it holds (its `sources`) is, and folding it folds exactly the rows of the sources not folded
 * yet, in the order the JSON Lines parts would have been read (by key within a day, line by line).
 */

export const PEOPLE_MANIFEST_VERSION = 1;

export interface PeopleSnapshotManifest {
  version: number;
  day: string;
  run_id: string;
  created_at: string;
  /** The earlier snapshot this one was built from, or null for a build from raw data alone. */
  base_day: string | null;
  /** Raw person part file names folded into this snapshot, by partition day. */
  folded: Record<string, string[]>;
  /** Keys folded in by this run (not by the base). */
  new_parts: string[];
  people: number;
  updated_people: number;
  new_people: number;
  updates_read: number;
  updates_rejected: Record<string, number>;
  deleted: number;
  unsubscribed: number;
  malformed_lines: number;
  /** The first malformed lines (key + line number), capped so a broken part cannot bloat the manifest. */
  malformed: MalformedLine[];
  seconds: number;
  /** Identities folded into another person by alias updates in the parts of this run. */
  merged_people?: number;
  /** What this snapshot changed from its base, when that is known exactly (see `SnapshotChanges`). */
  changes?: SnapshotChanges;
  /** True when the stored snapshot already held every part and nothing was rewritten. */
  up_to_date?: boolean;
}

export const MAX_REPORTED_MALFORMED = 100;

/** New people per batch of lines written when no base line comes between them (a first build). */
const LINES_PER_BATCH = 1024;

/**
 * The snapshot is rewritten whole every day, and read about once (by the next day's fold): gzip
 * level 1. On 333.7 MB of snapshot lines (1,000,000 people, 2026-12-07), level 1 deflated in
 * 1.25–1.27 s of CPU against 1.65–2.04 s at level 3 (the default), and its output inflated no
 * slower (1.34–1.41 s against 1.57–1.72 s), for 55.0 MB against 48.6 MB stored.
 */
const SNAPSHOT_GZIP_LEVEL = 1;

export function peopleManifestKey(day: string): string {
  return keys.peopleSnapshot(day).replace(/people\.jsonl\.gz$/, 'manifest.json');
}

export interface UpdatePeopleSnapshotOptions {
  store: ObjectStore;
  day: string;
  /** Rebuild even when the stored snapshot already holds every part. */
  force?: boolean;
  runId?: string;
  onProgress?: (done: number, total: number) => void;
  /** Limits of the engine that sorts the updates (default: the environment's). */
  engine?: EngineSettings;
  /**
   * Where to write the new snapshot's lines as well, uncompressed (the build's engine reads them in
   * parallel, where the stored gzip object is inflated on one thread), asked with the base's day
   * once it is known; undefined: no copy. Written only when the snapshot is rewritten: the manifest
   * then lacks `up_to_date`.
   */
  localCopy?: (baseDay: string | undefined) => Promise<string | undefined>;
}

/**
 * How a snapshot differs from the base it was folded onto (its manifest's `changes`): the object
 * `key` holds the new line of every person added or changed, in `customer_id` order, and `removed`
 * the base's people it leaves out (folded into another person by an alias). With the base as it was
 * (`base_version`), that is the whole difference: a reader of the base reads the new snapshot from
 * it (the build's people cache, audiences/people-cache.ts). Written only when exact: not for a fold
 * without a base, nor when the base had a line the merge could not place (malformed, out of order).
 */
export interface SnapshotChanges {
  key: string;
  base_day: string;
  /** The base snapshot's version when it was read (objectVersion). */
  base_version: string;
  removed: string[];
}

/** Brings `people/dt=D` up to date with the raw person parts; returns its manifest. */
export async function updatePeopleSnapshot(
  options: UpdatePeopleSnapshotOptions,
): Promise<PeopleSnapshotManifest> {
  const { store, day } = options;
  const started = process.hrtime.bigint();
  const parts = await personParts(store, day);

  const existing = await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(day));
  if (existing && !options.force && parts.every((u) => isFolded(existing.folded, u.key))) {
    return { ...existing, up_to_date: true };
  }

  // The base is the latest snapshot on or before D — D's own when it exists (it holds only parts
  // with dt <= D, so folding the rest on top of it is exact); `force` starts from the one before.
  const baseDay = await latestSnapshotDay(store, day, { before: options.force === true });
  const base = baseDay
    ? await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(baseDay))
    : undefined;
  // Its version before it is read: what the snapshot's `changes` are relative to.
  const baseInfo = baseDay ? await statObject(store, keys.peopleSnapshot(baseDay)) : undefined;
  const localCopy = await options.localCopy?.(baseDay);
  const folded: Record<string, string[]> = structuredClone(base?.folded ?? {});
  const toFold = parts.filter((u) => !isFolded(folded, u.key));

  const malformed: MalformedLine[] = [];
  let malformedCount = 0;
  const noteMalformed = (m: MalformedLine) => {
    malformedCount += 1;
    if (malformed.length < MAX_REPORTED_MALFORMED) malformed.push(m);
  };
  const rejected: Record<string, number> = {};
  let updatesRead = 0;

  // The updates not folded yet, held by the SQL engine and read back one person at a time in
  // `customer_id` order (people/updates.ts), merged with the base snapshot (in the same order) as
  // both stream: memory holds one person, whatever the number of people updated.
  const updates =
    toFold.length > 0 ? await loadPersonUpdates(store, toFold, tmpdir(), options.engine) : undefined;
  try {
    for (const m of updates?.malformed ?? []) noteMalformed(m);
    malformedCount += updates?.malformedUncounted ?? 0;
    for (const key of toFold.map((u) => u.key)) {
      const dt = partitionDay(key)!;
      const list = folded[dt] ?? [];
      list.push(fileName(key));
      folded[dt] = list;
    }
    for (const dt of Object.keys(folded)) folded[dt]!.sort();
    options.onProgress?.(toFold.length, toFold.length);

    /** One person's updates folded in order; counts what was read and rejected. */
    const foldGroup = (group: readonly PersonUpdateRow[], count: boolean) => {
      let person: FlatPerson | undefined;
      for (const { record } of group) {
        const update = asPersonUpdate(record);
        if (typeof update === 'string') {
          if (count) rejected[update] = (rejected[update] ?? 0) + 1;
          continue;
        }
        if (count) updatesRead += 1;
        person ??= emptyPerson(update.customer_id);
        applyUpdate(person, update);
      }
      return person;
    };

    // Alias updates (`merged_from`) fold one identity into another, in time order, across people:
    // the few people they involve are folded first, in memory, and stand in for their updates.
    const aliases: { from: string; into: string; ts: string }[] = [];
    for (const record of (await updates?.aliasRecords()) ?? []) {
      const update = asPersonUpdate(record);
      if (typeof update !== 'string' && update.merged_from)
        aliases.push({ from: update.merged_from, into: update.customer_id, ts: update.ts });
    }
    const involved = new Map<string, string>();
    let removed = new Set<string>();
    if (updates && aliases.length > 0) {
      const ids = [...new Set(aliases.flatMap((a) => [a.from, a.into]))];
      for await (const group of updates.people({ only: ids })) {
        const person = foldGroup(group, false);
        if (person) involved.set(person.customer_id, JSON.stringify(toSnapshotPerson(person)));
      }
      removed = await foldAliases(store, baseDay, involved, aliases);
    }
    const aliasIds = new Set(aliases.flatMap((a) => [a.from, a.into]));
    const involvedIds = [...involved.keys()].sort(compareIds);

    /** Every changed person, in `customer_id` order: streamed groups and the alias-involved ones. */
    async function* changes(): AsyncGenerator<{ id: string; person: FlatPerson }> {
      let k = 0;
      const held = function* (before: string | undefined) {
        while (k < involvedIds.length && (before === undefined || compareIds(involvedIds[k]!, before) < 0)) {
          const id = involvedIds[k++]!;
          yield { id, person: flattenSnapshotPerson(JSON.parse(involved.get(id)!) as SnapshotPerson) };
        }
      };
      for await (const group of updates?.people() ?? []) {
        const id = group[0]!.customer_id;
        const person = foldGroup(group, true);
        if (!person || id === null || aliasIds.has(id)) continue;
        yield* held(id);
        yield { id, person };
      }
      yield* held(undefined);
    }

    const counts = { people: 0, updated: 0, added: 0, deleted: 0, unsubscribed: 0 };
    /** Whether the lines written as text are the whole difference from the base (SnapshotChanges). */
    let exactChanges = baseInfo !== undefined;
    let lastBaseId: string | undefined;
    const inOrder = (id: string) => {
      if (lastBaseId !== undefined && compareIds(lastBaseId, id) >= 0) exactChanges = false;
      lastBaseId = id;
    };
    const emit = (p: SnapshotPerson | { deleted?: boolean; unsubscribed?: boolean }, line: OutLine) => {
      counts.people += 1;
      if (p.deleted) counts.deleted += 1;
      if (p.unsubscribed) counts.unsubscribed += 1;
      return line;
    };
    const added = (person: FlatPerson) => {
      const out = toSnapshotPerson(person);
      counts.added += 1;
      return emit(out, JSON.stringify(out));
    };
    /**
     * The new snapshot's lines in order, a batch at a time (a base chunk's lines, or
     * `LINES_PER_BATCH` new people). Unchanged base lines are passed through as their bytes,
     * neither decoded nor parsed: a daily snapshot rewrites a million of them.
     */
    async function* merged(): AsyncGenerator<OutLine[]> {
      const pending = changes()[Symbol.asyncIterator]();
      let next = await pending.next();
      let out: OutLine[] = [];
      /** The changed people before `id` (every one left without it). */
      async function* addedBefore(id?: string): AsyncGenerator<OutLine[]> {
        while (!next.done && (id === undefined || compareIds(next.value.id, id) < 0)) {
          out.push(added(next.value.person));
          next = await pending.next();
          if (out.length >= LINES_PER_BATCH) {
            yield out;
            out = [];
          }
        }
      }
      if (baseDay) {
        const baseKey = keys.peopleSnapshot(baseDay);
        for await (const batch of readLineBatches(store, baseKey)) {
          for (const { bytes, line } of batch) {
            const peek = peekSnapshotBytes(bytes);
            if (peek) inOrder(peek.customer_id);
            if (peek && !removed.has(peek.customer_id)) {
              yield* addedBefore(peek.customer_id);
              // Unchanged: passed through as it is, unparsed.
              if (next.done || next.value.id !== peek.customer_id) {
                out.push(emit(peek, bytes));
                continue;
              }
            }
            let held: SnapshotPerson;
            try {
              held = JSON.parse(bytes.toString('utf8')) as SnapshotPerson;
            } catch {
              noteMalformed({ key: baseKey, line, reason: 'not valid JSON' });
              exactChanges = false;
              continue;
            }
            if (typeof held?.customer_id !== 'string') {
              noteMalformed({ key: baseKey, line, reason: 'no customer_id' });
              exactChanges = false;
              continue;
            }
            if (!peek) inOrder(held.customer_id);
            if (removed.has(held.customer_id)) continue; // folded into another person by an alias
            yield* addedBefore(held.customer_id);
            if (!next.done && next.value.id === held.customer_id) {
              const person = toSnapshotPerson(mergeFields(flattenSnapshotPerson(held), next.value.person));
              next = await pending.next();
              counts.updated += 1;
              out.push(emit(person, JSON.stringify(person)));
            } else {
              out.push(emit(held, bytes));
            }
          }
          yield out;
          out = [];
        }
      }
      yield* addedBefore();
      if (out.length > 0) yield out;
    }
    // A fresh key per fold: a manifest names the changes it was written with, never a later fold's.
    const changesKey = baseInfo && keys.peopleChanges(day, randomBytes(6).toString('hex'));
    const changed = changesKey
      ? openGzipLinesWriter(store, changesKey, { level: SNAPSHOT_GZIP_LEVEL })
      : undefined;
    try {
      const batches = changed ? teeTextLines(merged(), changed) : merged();
      await writeGzipLineBatches(store, keys.peopleSnapshot(day), batches, {
        copyTo: localCopy,
        level: SNAPSHOT_GZIP_LEVEL,
      });
      await changed?.close();
    } catch (error) {
      await changed?.abort(error);
      throw error;
    }

    const manifest: PeopleSnapshotManifest = {
      version: PEOPLE_MANIFEST_VERSION,
      day,
      run_id: options.runId ?? newRunId('people'),
      created_at: new Date().toISOString(),
      base_day: baseDay ?? null,
      folded,
      new_parts: toFold.map((u) => u.key),
      people: counts.people,
      updated_people: counts.updated,
      new_people: counts.added,
      updates_read: updatesRead,
      updates_rejected: rejected,
      deleted: counts.deleted,
      unsubscribed: counts.unsubscribed,
      malformed_lines: malformedCount,
      malformed,
      merged_people: removed.size,
      ...(changesKey && exactChanges
        ? {
            changes: {
              key: changesKey,
              base_day: baseDay!,
              base_version: objectVersion(baseInfo!),
              removed: [...removed].sort(compareIds),
            },
          }
        : {}),
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
    // The manifest is written last: its presence means the snapshot next to it is complete.
    await writeJson(store, peopleManifestKey(day), manifest);
    // Earlier folds' changes of the day, and this one's when not exact: no manifest names them.
    const unnamed = (await listKeys(store, keys.peopleChangesPrefix(day))).filter(
      (k) => k !== manifest.changes?.key,
    );
    await store.delete(unnamed);
    return manifest;
  } finally {
    await updates?.close();
  }
}

/**
 * Passes the batches on, writing their text lines to `changes`: the merge writes a line as text
 * exactly when it added or changed the person (an unchanged base line stays bytes).
 */
async function* teeTextLines(
  batches: AsyncIterable<OutLine[]>,
  changes: { writeBatch(lines: readonly OutLine[]): Promise<void> },
): AsyncGenerator<OutLine[]> {
  for await (const batch of batches) {
    const text = batch.filter((line) => typeof line === 'string');
    if (text.length > 0) await changes.writeBatch(text);
    yield batch;
  }
}

/** Every person in the snapshot of `day`, in `customer_id` order. */
export async function* readPeopleSnapshot(store: ObjectStore, day: string): AsyncGenerator<SnapshotPerson> {
  yield* readJsonl<SnapshotPerson>(store, keys.peopleSnapshot(day));
}

/**
 * The latest day with a complete snapshot on or before `day` (strictly before with `before`),
 * or undefined.
 */
export async function latestSnapshotDay(
  store: ObjectStore,
  day: string,
  options: { before?: boolean } = {},
): Promise<string | undefined> {
  let best: string | undefined;
  for await (const info of store.list(keys.peoplePrefix())) {
    if (!info.key.endsWith('/manifest.json')) continue;
    const dt = partitionDay(info.key);
    if (!dt || (options.before ? dt >= day : dt > day)) continue;
    if (!best || dt > best) best = dt;
  }
  return best;
}

/**
 * Applies alias updates to the delta: each earlier identity (`from`) is folded into the person
 * that named it (`into`), with its base-snapshot line and its own updates, and is removed from the
 * snapshot. In time order, so chains (a → b, then b → c) end in c. Returns the removed ids.
 *
 * The base snapshot is read once more, only for the aliased ids: aliases are few next to people.
 */
async function foldAliases(
  store: ObjectStore,
  baseDay: string | undefined,
  delta: Map<string, string>,
  aliases: { from: string; into: string; ts: string }[],
): Promise<Set<string>> {
  const sources = new Set(aliases.map((a) => a.from));
  const baseLines = new Map<string, SnapshotPerson>();
  if (baseDay) {
    for await (const person of readPeopleSnapshot(store, baseDay)) {
      if (sources.has(person.customer_id)) baseLines.set(person.customer_id, person);
    }
  }
  const removed = new Set<string>();
  const flatOf = (id: string): FlatPerson | undefined => {
    const held = delta.get(id);
    const base = removed.has(id) ? undefined : baseLines.get(id);
    if (!held && !base) return undefined;
    const person = base ? flattenSnapshotPerson(base) : emptyPerson(id);
    return held ? mergeFields(person, flattenSnapshotPerson(JSON.parse(held) as SnapshotPerson)) : person;
  };
  aliases.sort((a, b) => compareIds(a.ts, b.ts));
  for (const { from, into } of aliases) {
    if (from === into || removed.has(into)) continue;
    const source = flatOf(from) ?? emptyPerson(from);
    const target = delta.get(into)
      ? flattenSnapshotPerson(JSON.parse(delta.get(into)!) as SnapshotPerson)
      : emptyPerson(into);
    delta.set(into, JSON.stringify(toSnapshotPerson(mergeInto(target, source))));
    delta.delete(from);
    removed.add(from);
  }
  return removed;
}

function isFolded(folded: Record<string, string[]>, key: string): boolean {
  const dt = partitionDay(key);
  const list = dt ? folded[dt] : undefined;
  return !!list && binaryIncludes(list, fileName(key));
}

function binaryIncludes(sorted: readonly string[], value: string): boolean {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = sorted[mid]!;
    if (v === value) return true;
    if (v < value) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/**
 * The raw person parts the snapshot of `day` has not folded — the days after it and late parts —
 * or every part when there is no snapshot: what a reader who wants the newest identities must add.
 */
export async function unfoldedPersonParts(
  store: ObjectStore,
  day: string | undefined,
): Promise<SourceUnit[]> {
  const manifest = day
    ? await readJsonIfExists<PeopleSnapshotManifest>(store, peopleManifestKey(day))
    : undefined;
  const folded = manifest?.folded ?? {};
  return (await personParts(store)).filter((u) => !isFolded(folded, u.key));
}

/** Every raw person part (with `dt <= day` when given), by day and then by JSON Lines key, in either form. */
async function personParts(store: ObjectStore, day?: string): Promise<SourceUnit[]> {
  const out: SourceUnit[] = [];
  for (const d of await listDatasetParts(store, 'people', day === undefined ? {} : { to: day })) {
    const units: SourceUnit[] = d.jsonl.map((part) => ({ key: part.key, part }));
    for (const part of d.parquet) {
      const file = d.files.get(part.key)!;
      for (const key of file.sources) units.push({ key, part, file });
    }
    out.push(...units.sort((a, b) => compareIds(a.key, b.key)));
  }
  return out;
}

/** Characters where UTF-16 order and code point order can differ (surrogates and U+E000–U+FFFF). */
const NON_BMP_SENSITIVE = /[\uD800-\uFFFF]/;

/**
 * Code point order, the order of snapshot lines: the SQL engine's order for text (UTF-8 bytes), so
 * the snapshot and the engine's stream of updates can be merged. JavaScript's `<` compares UTF-16
 * units, which agrees except between a character above U+FFFF and one in U+E000–U+FFFF.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  if (!NON_BMP_SENSITIVE.test(a) && !NON_BMP_SENSITIVE.test(b)) return a < b ? -1 : 1;
  const x = a[Symbol.iterator]();
  const y = b[Symbol.iterator]();
  for (;;) {
    const p = x.next();
    const q = y.next();
    if (p.done || q.done) return p.done ? (q.done ? 0 : -1) : 1;
    const d = p.value.codePointAt(0)! - q.value.codePointAt(0)!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
}

export function newRunId(kind: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}Z$/, 'Z');
  return `${kind}-${stamp}-${randomBytes(3).toString('hex')}`;
}

export type { PersonRecord, SnapshotPerson };
