import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { addDays, dayRange } from '../contract/days.js';
import type { IdentityIndex } from '../people/identity.js';
import type { MalformedLine } from '../people/snapshot.js';
import { keys } from '../storage/keys.js';
import { listKeys, type ObjectStore } from '../storage/object-store.js';
import type { PersonTable } from './columns.js';
import { dayNumber, type Rec, type RecordDataset, type Source } from './compile.js';
import { EARLIER_DUPLICATE, IdSet, INSERTED } from './id-set.js';
import { toNumber } from './values.js';

/**
 * One streaming pass over the raw partitions the rules need, feeding every source at once.
 *
 * Per line: a cheap substring test skips lines that cannot match any rule (predicate push-down:
 * a record can only be `checkout_started` if its line contains `"checkout_started"` — our writers
 * use `JSON.stringify`, which never escapes letters, digits or `_`); the rest are parsed,
 * de-duplicated on `id` (DESIGN: first by `received_at`, then object key, then line), resolved to a
 * person, and counted into the sources whose window and `where` they satisfy.
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
  seconds: number;
}

export interface ScanOptions {
  store: ObjectStore;
  day: string;
  plans: ScanPlan[];
  persons: PersonTable;
  identity: IdentityIndex;
  resetColumns: () => void;
  maxReportedMalformed?: number;
  onProgress?: (done: number, total: number) => void;
}

const GUNZIP_CHUNK = 256 * 1024;

interface SelectorGroup {
  test: (r: Rec) => boolean;
  sources: Source[];
}

interface DatasetRuntime {
  dataset: RecordDataset;
  keys: string[];
  /** Quoted values a relevant line must contain one of; undefined: parse every line. */
  needles: string[] | undefined;
  byName: Map<string, Source[]>;
  groups: SelectorGroup[];
}

interface Deferred {
  rec: Rec;
  recv: number;
  order: number;
  line: number;
}

export async function scanRecords(options: ScanOptions): Promise<ScanResult> {
  const started = process.hrtime.bigint();
  const { store, day, plans } = options;
  const runtimes: DatasetRuntime[] = [];
  const fromDay: Partial<Record<RecordDataset, string>> = {};
  for (const plan of plans) {
    if (plan.sources.length === 0) continue;
    let first = day;
    for (const s of plan.sources) if (s.fromDay < first) first = s.fromDay;
    fromDay[plan.dataset] = first;
    const partKeys: string[] = [];
    for (const dt of dayRange(first, day)) {
      for (const key of await listKeys(store, keys.rawPrefix(plan.dataset, dt))) {
        if (key.endsWith('.jsonl.gz')) partKeys.push(key);
      }
    }
    runtimes.push(makeRuntime(plan, partKeys));
  }

  let result = await runPass(options, runtimes, undefined);
  let passes = 1;
  let reordered = 0;
  if (result.conflicts.size > 0) {
    reordered = result.conflicts.size;
    options.resetColumns();
    result = await runPass(options, runtimes, result.conflicts);
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
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}

function makeRuntime(plan: ScanPlan, partKeys: string[]): DatasetRuntime {
  const byName = new Map<string, Source[]>();
  const groupsByKey = new Map<string, SelectorGroup>();
  for (const s of plan.sources) {
    if (s.event !== undefined) {
      const list = byName.get(s.event) ?? [];
      list.push(s);
      byName.set(s.event, list);
    }
    const g = groupsByKey.get(s.selectorKey) ?? { test: s.selectorTest, sources: [] };
    g.sources.push(s);
    groupsByKey.set(s.selectorKey, g);
  }
  let needles: string[] | undefined;
  if (plan.dataset === 'events') {
    needles = [...byName.keys()].map((n) => JSON.stringify(n));
  } else {
    // Only when every selector pins the metric to known strings can a line be skipped unread.
    const metrics = new Set<string>();
    for (const s of plan.sources) {
      const m = s.message?.metric;
      if (typeof m === 'string') metrics.add(m);
      else if (
        m &&
        typeof m === 'object' &&
        Object.keys(m).length === 1 &&
        m.in?.every((v) => typeof v === 'string')
      )
        for (const v of m.in) metrics.add(v as string);
      else {
        metrics.clear();
        needles = undefined;
        break;
      }
      needles = [];
    }
    if (needles) needles = [...metrics].map((v) => JSON.stringify(v));
  }
  return { dataset: plan.dataset, keys: partKeys, needles, byName, groups: [...groupsByKey.values()] };
}

function emptyStats(): DatasetStats {
  return { lines: 0, parsed: 0, relevant: 0, duplicates: 0, unresolved: 0, rejected: {} };
}

async function runPass(options: ScanOptions, runtimes: DatasetRuntime[], deferIds: Set<string> | undefined) {
  const { store, day, persons, identity } = options;
  const maxReported = options.maxReportedMalformed ?? 100;
  const stats: Record<RecordDataset, DatasetStats> = { events: emptyStats(), messages: emptyStats() };
  const linesByKey = new Map<string, number>();
  const malformed: MalformedLine[] = [];
  let malformedLines = 0;
  const conflicts = new Set<string>();
  const dayNumCache = new Map<string, number>();
  const dayNum = (d: string) => {
    let n = dayNumCache.get(d);
    if (n === undefined) {
      n = dayNumber(d);
      dayNumCache.set(d, n);
    }
    return n;
  };
  const lastDay = day;
  const total = runtimes.reduce((n, r) => n + r.keys.length, 0);
  let done = 0;
  let order = 0;

  for (const rt of runtimes) {
    const st = stats[rt.dataset];
    const ids = new IdSet(1 << 16);
    const deferred = new Map<string, Deferred>();
    const isEvents = rt.dataset === 'events';
    const matched: SelectorGroup[] = [];
    const needles = rt.needles;

    const apply = (rec: Rec, sources: readonly Source[]) => {
      const p = personOf(rec, identity, persons);
      if (p < 0) {
        st.unresolved += 1;
        return;
      }
      const d = (rec.ts as string).slice(0, 10);
      if (d > lastDay) return;
      const target = isEvents ? rec.properties : rec;
      for (const s of sources) {
        if (d < s.fromDay) continue;
        if (s.whereTest && !s.whereTest(target)) continue;
        s.count.data[p]! += 1;
        if (s.latest) {
          const n = dayNum(d);
          if (n > s.latest.data[p]!) s.latest.data[p] = n;
        }
        if (s.props.size > 0) applyProps(s, rec.properties, p);
      }
    };

    const sourcesOf = (rec: Rec): readonly Source[] | undefined => {
      if (isEvents) return rt.byName.get(rec.name as string);
      matched.length = 0;
      for (const g of rt.groups) if (g.test(rec)) matched.push(g);
      if (matched.length === 0) return undefined;
      if (matched.length === 1) return matched[0]!.sources;
      return matched.flatMap((g) => g.sources);
    };

    for (let k = 0; k < rt.keys.length; k++) {
      const key = rt.keys[k]!;
      const keyOrder = order++;
      let lines = 0;
      const onLine = (text: string, line: number) => {
        lines += 1;
        if (needles !== undefined) {
          let hit = false;
          for (let i = 0; i < needles.length; i++) {
            if (text.includes(needles[i]!)) {
              hit = true;
              break;
            }
          }
          if (!hit) return;
        }
        let rec: Rec;
        try {
          rec = JSON.parse(text) as Rec;
        } catch {
          malformedLines += 1;
          if (malformed.length < maxReported) malformed.push({ key, line, reason: 'not valid JSON' });
          return;
        }
        st.parsed += 1;
        const problem = recordProblem(rec, isEvents);
        if (problem) {
          if (problem === 'not_an_object') {
            malformedLines += 1;
            if (malformed.length < maxReported) malformed.push({ key, line, reason: 'not a JSON object' });
          } else st.rejected[problem] = (st.rejected[problem] ?? 0) + 1;
          return;
        }
        const sources = sourcesOf(rec);
        if (!sources) return;
        st.relevant += 1;
        const id = rec.id as string;
        const recv = receivedMs(rec.received_at);
        if (deferIds?.has(id)) {
          // Every copy is seen before choosing: earliest received_at, then key order, then line.
          const held = deferred.get(id);
          if (!held) deferred.set(id, { rec, recv, order: keyOrder, line });
          else {
            st.duplicates += 1;
            if (recv < held.recv) deferred.set(id, { rec, recv, order: keyOrder, line });
          }
          return;
        }
        const inserted = ids.insert(id, recv);
        if (inserted !== INSERTED) {
          st.duplicates += 1;
          if (inserted === EARLIER_DUPLICATE) conflicts.add(id);
          return;
        }
        apply(rec, sources);
      };
      const failure = await forEachLine(store, key, onLine);
      if (failure) {
        malformedLines += 1;
        if (malformed.length < maxReported)
          malformed.push({ key, line: failure.line, reason: failure.reason });
      }
      st.lines += lines;
      linesByKey.set(key, lines);
      done += 1;
      options.onProgress?.(done, total);
    }
    for (const held of deferred.values()) {
      const sources = sourcesOf(held.rec);
      if (sources) apply(held.rec, sources);
    }
  }
  return { stats, linesByKey, malformed, malformedLines, conflicts };
}

function applyProps(s: Source, properties: unknown, p: number): void {
  for (const agg of s.props.values()) {
    const v = toNumber(agg.get(properties));
    if (v === undefined) continue;
    if (agg.sum) {
      // Neumaier's compensated summation: the sum no longer depends on record order in practice.
      const sum = agg.sum.data[p]!;
      const t = sum + v;
      const comp = agg.comp!;
      if (Math.abs(sum) >= Math.abs(v)) comp.data[p]! += sum - t + v;
      else comp.data[p]! += v - t + sum;
      agg.sum.data[p] = t;
    }
    if (agg.max && v > agg.max.data[p]!) agg.max.data[p] = v;
    if (agg.min && v < agg.min.data[p]!) agg.min.data[p] = v;
  }
}

function personOf(rec: Rec, identity: IdentityIndex, persons: PersonTable): number {
  const customerId = rec.customer_id;
  if (typeof customerId === 'string' && customerId !== '') return persons.intern(customerId);
  const resolved = identity.resolve({
    email: typeof rec.email === 'string' ? rec.email : undefined,
    cio_id: typeof rec.cio_id === 'string' ? rec.cio_id : undefined,
  });
  return resolved === undefined ? -1 : persons.intern(resolved);
}

/** A missing or unreadable `received_at` sorts after every real one. */
function receivedMs(value: unknown): number {
  if (typeof value !== 'string') return Number.POSITIVE_INFINITY;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
}

const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function recordProblem(rec: unknown, isEvent: boolean): string | undefined {
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return 'not_an_object';
  const r = rec as Rec;
  if (typeof r.id !== 'string' || r.id === '') return 'missing_id';
  if (typeof r.ts !== 'string' || !TS_RE.test(r.ts)) return 'bad_timestamp';
  if (isEvent) {
    if (typeof r.name !== 'string' || r.name === '') return 'missing_name';
  } else if (typeof r.metric !== 'string' || typeof r.channel !== 'string') return 'missing_metric';
  return undefined;
}

/**
 * Streams a gzip JSONL object line by line, synchronously within each decompressed chunk (an
 * async step per line would cost more than parsing it). Returns where it broke, if it did.
 */
async function forEachLine(
  store: ObjectStore,
  key: string,
  onLine: (text: string, line: number) => void,
): Promise<{ line: number; reason: string } | undefined> {
  const source = await store.getStream(key);
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  try {
    for await (const chunk of gunzip) {
      const text = rest + decoder.write(chunk as Buffer);
      let start = 0;
      let nl = text.indexOf('\n', start);
      while (nl !== -1) {
        line += 1;
        if (nl > start) onLine(text.slice(start, nl), line);
        start = nl + 1;
        nl = text.indexOf('\n', start);
      }
      rest = text.slice(start);
    }
  } catch (error) {
    source.destroy();
    return { line: line + 1, reason: `unreadable gzip data (${(error as Error).message})` };
  }
  rest += decoder.end();
  if (rest.length > 0) onLine(rest, line + 1);
  return undefined;
}

/** The first day an audience reads for a window of `days` ending on `day`. */
export function windowStart(day: string, days: number): string {
  return addDays(day, 1 - days);
}
