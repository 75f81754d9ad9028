import { availableParallelism } from 'node:os';
import { addDays, dayRange } from '../contract/days.js';
import { type PersonIndex, UNKNOWN } from '../people/person-index.js';
import type { MalformedLine } from '../people/snapshot.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { PersonTable } from './columns.js';
import type { RecordDataset, Source } from './compile.js';
import { EARLIER_DUPLICATE, IdSet, INSERTED } from './id-set.js';
import { type DatasetSpec, NEW_PERSON, type PartScan, PartScanner } from './scan-part.js';
import { ScanPool } from './scan-pool.js';

/**
 * One streaming pass over the raw partitions the rules need, feeding every source at once.
 *
 * Parts are scanned in parallel on worker threads (scan-part.ts does the per-line work: skip lines
 * that cannot match any rule, parse the rest, reduce matching records to ids, days and source
 * hits, and people through the shared person index). This coordinator fetches the parts, and
 * applies the part results strictly in key order: de-duplication on `id` (DESIGN: first by
 * `received_at`, then object key, then line), person numbers for ids the snapshot lacks, and the
 * per-person counters. So the result is the same whichever thread scanned what.
 *
 * De-duplication is among the records that match some rule's selector in the partitions read.
 * Records are visited in key and line order, so the first copy is normally also the first received;
 * when a later copy turns out to have been received earlier, the pass is repeated once with those
 * ids held back until every copy is known, so the result is exactly "first by received_at".
 */

export interface ScanPlan {
  dataset: RecordDataset;
  sources: Source[];
}

export interface DatasetStats {
  /** Lines read (every line of every input part). */
  lines: number;
  /** Lines parsed (the others could not match a rule). */
  parsed: number;
  /** Parsed records matching some rule's selector. */
  relevant: number;
  duplicates: number;
  /** Relevant records whose person could not be resolved (email / cio_id unknown, anonymous only). */
  unresolved: number;
  /** Lines that are JSON but not a usable record, by reason. */
  rejected: Record<string, number>;
}

export interface ScanResult {
  /** Input keys by dataset, in read order. */
  inputs: Record<RecordDataset, string[]>;
  /** First day read per dataset. */
  fromDay: Partial<Record<RecordDataset, string>>;
  linesByKey: Map<string, number>;
  stats: Record<RecordDataset, DatasetStats>;
  malformedLines: number;
  malformed: MalformedLine[];
  /** Ids whose winning copy was decided by `received_at` against read order (needed a second pass). */
  reorderedDuplicates: number;
  passes: number;
  /** Worker threads that scanned parts (0: this thread). */
  threads: number;
  seconds: number;
}

export interface ScanOptions {
  store: ObjectStore;
  day: string;
  plans: ScanPlan[];
  persons: PersonTable;
  /** Who the snapshot people are, by customer id, email and cio_id (built with the person table). */
  people: PersonIndex;
  resetColumns: () => void;
  maxReportedMalformed?: number;
  onProgress?: (done: number, total: number) => void;
  /** Worker threads scanning parts; 0 scans on this thread. Default: see `defaultScanThreads`. */
  threads?: number;
}

/** Parts larger than this (compressed) are streamed from the store and scanned on this thread. */
const STREAMED_PART_BYTES = 64 * 1024 * 1024;
/** Below this much compressed input, starting threads costs more than it saves. */
const THREADED_INPUT_BYTES = 16 * 1024 * 1024;

/** One thread per core for inputs worth it; none for small ones. */
function defaultScanThreads(inputBytes: number): number {
  return inputBytes < THREADED_INPUT_BYTES ? 0 : Math.max(1, availableParallelism());
}

interface DatasetRuntime {
  dataset: RecordDataset;
  /** Position of `spec` in the specs every scanner gets. */
  index: number;
  keys: string[];
  sizes: Map<string, number>;
  sources: Source[];
  spec: DatasetSpec;
}

/** A record held back until every copy of its id is known (second pass only). */
interface Deferred {
  recv: number;
  person: number;
  newId: string | undefined;
  day: number;
  sources: number[];
  values: number[];
}

export async function scanRecords(options: ScanOptions): Promise<ScanResult> {
  const started = process.hrtime.bigint();
  const { store, day, plans } = options;
  const runtimes: DatasetRuntime[] = [];
  const fromDay: Partial<Record<RecordDataset, string>> = {};
  let inputBytes = 0;
  for (const plan of plans) {
    if (plan.sources.length === 0) continue;
    let first = day;
    for (const s of plan.sources) if (s.fromDay < first) first = s.fromDay;
    fromDay[plan.dataset] = first;
    const partKeys: string[] = [];
    const sizes = new Map<string, number>();
    for (const dt of dayRange(first, day)) {
      for await (const info of store.list(keys.rawPrefix(plan.dataset, dt))) {
        if (!info.key.endsWith('.jsonl.gz')) continue;
        partKeys.push(info.key);
        sizes.set(info.key, info.size);
        inputBytes += info.size;
      }
    }
    runtimes.push({
      dataset: plan.dataset,
      index: runtimes.length,
      keys: partKeys,
      sizes,
      sources: plan.sources,
      spec: datasetSpec(plan, day),
    });
  }

  const maxReported = options.maxReportedMalformed ?? 100;
  const specs = runtimes.map((r) => r.spec);
  const threads = Math.min(
    options.threads ?? defaultScanThreads(inputBytes),
    runtimes.reduce((n, r) => n + r.keys.length, 0),
  );
  const people = options.people;
  const pool =
    threads > 0 ? new ScanPool(threads, { datasets: specs, people: people.data, maxReported }) : undefined;
  const local = specs.map((spec) => new PartScanner(spec, people, maxReported));
  try {
    const scanner: PartSource = { store, pool, local };
    let result = await runPass(options, scanner, runtimes, undefined);
    let passes = 1;
    let reordered = 0;
    if (result.conflicts.size > 0) {
      reordered = result.conflicts.size;
      options.resetColumns();
      result = await runPass(options, scanner, runtimes, result.conflicts);
      passes = 2;
    }
    return {
      inputs: {
        events: runtimes.find((r) => r.dataset === 'events')?.keys ?? [],
        messages: runtimes.find((r) => r.dataset === 'messages')?.keys ?? [],
      },
      fromDay,
      linesByKey: result.linesByKey,
      stats: result.stats,
      malformedLines: result.malformedLines,
      malformed: result.malformed,
      reorderedDuplicates: reordered,
      passes,
      threads,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  } finally {
    await pool?.close();
  }
}

/** What a scanner needs of a plan, as plain data (it crosses to worker threads). */
function datasetSpec(plan: ScanPlan, day: string): DatasetSpec {
  return {
    dataset: plan.dataset,
    lastDay: day,
    sources: plan.sources.map((s) => ({
      ...(s.event !== undefined ? { event: s.event } : {}),
      ...(s.message !== undefined ? { message: s.message } : {}),
      ...(s.where !== undefined ? { where: s.where } : {}),
      fromDay: s.fromDay,
      props: [...s.props.keys()],
    })),
  };
}

interface PartSource {
  store: ObjectStore;
  pool: ScanPool | undefined;
  local: PartScanner[];
}

/** Scans one part: on a worker thread, or here when there are none or the part is too big to hold. */
async function scanPart(from: PartSource, rt: DatasetRuntime, key: string): Promise<PartScan> {
  const local = from.local[rt.index]!;
  if ((rt.sizes.get(key) ?? 0) > STREAMED_PART_BYTES)
    return local.scanGzipStream(await from.store.getStream(key));
  const bytes = await from.store.get(key);
  return from.pool ? from.pool.scan(rt.index, bytes) : local.scanCompressed(bytes);
}

function emptyStats(): DatasetStats {
  return { lines: 0, parsed: 0, relevant: 0, duplicates: 0, unresolved: 0, rejected: {} };
}

const fingerprintKey = (hi: number, lo: number) => `${hi}/${lo}`;

async function runPass(
  options: ScanOptions,
  from: PartSource,
  runtimes: DatasetRuntime[],
  deferIds: Set<string> | undefined,
) {
  const { persons } = options;
  const maxReported = options.maxReportedMalformed ?? 100;
  const stats: Record<RecordDataset, DatasetStats> = { events: emptyStats(), messages: emptyStats() };
  const linesByKey = new Map<string, number>();
  const malformed: MalformedLine[] = [];
  let malformedLines = 0;
  const conflicts = new Set<string>();
  const total = runtimes.reduce((n, r) => n + r.keys.length, 0);
  // Parts scanned ahead of the one being applied: enough to keep every thread busy.
  const ahead = Math.max(1, (from.pool?.threads ?? 0) * 4);
  let done = 0;

  for (const rt of runtimes) {
    const st = stats[rt.dataset];
    let ids: IdSet | undefined;
    const deferred = new Map<string, Deferred>();
    const sources = rt.sources;

    // Scanners resolve people the snapshot knows (aliases included); other ids become new people here.
    const personOf = (person: number, newId: string | undefined): number =>
      person === NEW_PERSON ? persons.intern(newId!) : person;

    const apply = (
      p: number,
      day: number,
      hits: ArrayLike<number>,
      from: number,
      to: number,
      values: ArrayLike<number>,
      v: number,
    ) => {
      for (let j = from; j < to; j++) {
        const s = sources[hits[j]!]!;
        s.count.data[p]! += 1;
        if (s.latest && day > s.latest.data[p]!) s.latest.data[p] = day;
        for (const agg of s.props.values()) {
          const value = values[v++]!;
          if (Number.isNaN(value)) continue;
          if (agg.sum) {
            // Neumaier's compensated summation: the sum no longer depends on record order in practice.
            const sum = agg.sum.data[p]!;
            const t = sum + value;
            const comp = agg.comp!;
            if (Math.abs(sum) >= Math.abs(value)) comp.data[p]! += sum - t + value;
            else comp.data[p]! += value - t + sum;
            agg.sum.data[p] = t;
          }
          if (agg.max && value > agg.max.data[p]!) agg.max.data[p] = value;
          if (agg.min && value < agg.min.data[p]!) agg.min.data[p] = value;
        }
      }
      return v;
    };

    const applyPart = (key: string, scan: PartScan) => {
      st.lines += scan.lines;
      st.parsed += scan.parsed;
      for (const [reason, n] of Object.entries(scan.rejected))
        st.rejected[reason] = (st.rejected[reason] ?? 0) + n;
      malformedLines += scan.malformedLines;
      for (const m of scan.malformed) if (malformed.length < maxReported) malformed.push({ key, ...m });
      linesByKey.set(key, scan.lines);
      const r = scan.records;
      st.relevant += r.count;
      // Sized from the first part, so the set rarely has to grow (each growth rehashes it all).
      ids ??= new IdSet(Math.min(Math.ceil((r.count * rt.keys.length * 1.2) / 0.7), 1 << 23));
      let nextNewId = 0;
      let v = 0;
      for (let i = 0; i < r.count; i++) {
        const person = r.person[i]!;
        const newId = person === NEW_PERSON ? r.newIds[nextNewId++] : undefined;
        const hitsFrom = r.sourceStart[i]!;
        const hitsTo = r.sourceStart[i + 1]!;
        const valueFrom = v;
        for (let j = hitsFrom; j < hitsTo; j++) v += sources[r.sourceList[j]!]!.props.size;
        const hi = r.idHi[i]!;
        const lo = r.idLo[i]!;
        const recv = r.receivedMs[i]!;
        if (deferIds && deferIds.size > 0) {
          const fk = fingerprintKey(hi, lo);
          if (deferIds.has(fk)) {
            // Every copy is seen before choosing: earliest received_at, then key order, then line.
            const held = deferred.get(fk);
            if (held) st.duplicates += 1;
            if (!held || recv < held.recv) {
              deferred.set(fk, {
                recv,
                person,
                newId,
                day: r.day[i]!,
                sources: Array.from(r.sourceList.subarray(hitsFrom, hitsTo)),
                values: Array.from(r.values.subarray(valueFrom, v)),
              });
            }
            continue;
          }
        }
        const inserted = ids.insertFingerprint(hi, lo, recv);
        if (inserted !== INSERTED) {
          st.duplicates += 1;
          if (inserted === EARLIER_DUPLICATE) conflicts.add(fingerprintKey(hi, lo));
          continue;
        }
        const p = personOf(person, newId);
        if (p === UNKNOWN) {
          st.unresolved += 1;
          continue;
        }
        apply(p, r.day[i]!, r.sourceList, hitsFrom, hitsTo, r.values, valueFrom);
      }
    };

    const tasks = new Map<number, Promise<PartScan>>();
    const start = (k: number) => {
      if (k >= rt.keys.length || tasks.has(k)) return;
      const task = scanPart(from, rt, rt.keys[k]!);
      // Awaited in order below; a failure ahead of that is not an unhandled rejection.
      task.catch(() => {});
      tasks.set(k, task);
    };
    for (let k = 0; k < rt.keys.length; k++) {
      for (let a = k; a < k + ahead; a++) start(a);
      const scan = await tasks.get(k)!;
      tasks.delete(k);
      applyPart(rt.keys[k]!, scan);
      done += 1;
      options.onProgress?.(done, total);
    }
    for (const held of deferred.values()) {
      const p = personOf(held.person, held.newId);
      if (p === UNKNOWN) st.unresolved += 1;
      else apply(p, held.day, held.sources, 0, held.sources.length, held.values, 0);
    }
  }
  return { stats, linesByKey, malformed, malformedLines, conflicts };
}

/** The first day an audience reads for a window of `days` ending on `day`. */
export function windowStart(day: string, days: number): string {
  return addDays(day, 1 - days);
}
