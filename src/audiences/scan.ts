import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import { addDays, dayRange } from '../contract/days.js';
import type { IdentityIndex } from '../people/identity.js';
import type { MalformedLine } from '../people/snapshot.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
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
  /** How lines that cannot match any rule are skipped unread; undefined: parse every line. */
  filter: FilterSpec | undefined;
  sizes: Map<string, number>;
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
    const sizes = new Map<string, number>();
    for (const dt of dayRange(first, day)) {
      for await (const info of store.list(keys.rawPrefix(plan.dataset, dt))) {
        if (!info.key.endsWith('.jsonl.gz')) continue;
        partKeys.push(info.key);
        sizes.set(info.key, info.size);
      }
    }
    runtimes.push(makeRuntime(plan, partKeys, sizes));
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

function makeRuntime(plan: ScanPlan, partKeys: string[], sizes: Map<string, number>): DatasetRuntime {
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
  return {
    dataset: plan.dataset,
    keys: partKeys,
    sizes,
    filter: plan.dataset === 'events' ? eventFilter([...byName.keys()]) : messageFilter(plan.sources),
    byName,
    groups: [...groupsByKey.values()],
  };
}

/**
 * Events: a line can be `checkout_started` only if it contains `"checkout_started"` (our writers use
 * `JSON.stringify`, which never escapes letters, digits or `_`), whatever the key order.
 */
function eventFilter(names: string[]): FilterSpec {
  return { kind: 'needles', needles: names.map((n) => Buffer.from(JSON.stringify(n))) };
}

/**
 * Messages are flat records whose `channel` and `metric` are always present: a line is read only
 * when the values after `"channel":"` and `"metric":"` could satisfy some selector. A line where
 * either is not found in that exact form (another writer's spacing, an escape) is parsed anyway.
 */
function messageFilter(sources: readonly Source[]): FilterSpec | undefined {
  const allowed: { channel: Set<string> | null; metric: Set<string> | null }[] = [];
  for (const s of sources) {
    const pin = (v: unknown): Set<string> | null => {
      if (typeof v === 'string') return new Set([v]);
      if (
        v &&
        typeof v === 'object' &&
        Object.keys(v).length === 1 &&
        Array.isArray((v as { in?: unknown[] }).in)
      ) {
        const values = (v as { in: unknown[] }).in;
        if (values.every((x) => typeof x === 'string')) return new Set(values as string[]);
      }
      return null;
    };
    const channel = pin(s.message?.channel);
    const metric = pin(s.message?.metric);
    if (channel === null && metric === null) return undefined;
    allowed.push({ channel, metric });
  }
  return { kind: 'fields', allowed };
}

type FilterSpec =
  | { kind: 'needles'; needles: Buffer[] }
  | { kind: 'fields'; allowed: { channel: Set<string> | null; metric: Set<string> | null }[] };

const CHANNEL_KEY = Buffer.from('"channel":"');
const METRIC_KEY = Buffer.from('"metric":"');
const QUOTE = 34;
const BACKSLASH = 92;
const NEWLINE = 10;

/**
 * The line test over a buffer, with one cursor per searched pattern: the next occurrence at or
 * after the current line, so each pattern is searched about once per line that has it and lines
 * without it cost a comparison.
 */
function makeLineTest(
  spec: FilterSpec | undefined,
  buf: Buffer,
): ((start: number, end: number) => boolean) | undefined {
  if (!spec) return undefined;
  if (spec.kind === 'needles') {
    const { needles } = spec;
    const next = new Float64Array(needles.length).fill(-2);
    return (start, end) => {
      for (let i = 0; i < needles.length; i++) {
        let at = next[i]!;
        if (at !== -1 && at < start) {
          at = buf.indexOf(needles[i]!, start);
          next[i] = at;
        }
        if (at !== -1 && at < end) return true;
      }
      return false;
    };
  }
  const { allowed } = spec;
  let nextChannel = -2;
  let nextMetric = -2;
  const valueAt = (keyAt: number, keyLength: number, end: number): string | undefined => {
    const from = keyAt + keyLength;
    const close = buf.indexOf(QUOTE, from);
    if (close === -1 || close > end) return undefined;
    // An escaped value is left to the real parser (and searched only up to the quote: an unbounded
    // search would run to the end of the part on every line).
    for (let i = from; i < close; i++) if (buf[i] === BACKSLASH) return undefined;
    return buf.toString('utf8', from, close);
  };
  return (start, end) => {
    if (nextChannel !== -1 && nextChannel < start) nextChannel = buf.indexOf(CHANNEL_KEY, start);
    if (nextMetric !== -1 && nextMetric < start) nextMetric = buf.indexOf(METRIC_KEY, start);
    if (nextChannel === -1 || nextChannel >= end || nextMetric === -1 || nextMetric >= end) return true;
    const channel = valueAt(nextChannel, CHANNEL_KEY.length, end);
    const metric = valueAt(nextMetric, METRIC_KEY.length, end);
    if (channel === undefined || metric === undefined) return true;
    for (const a of allowed) {
      if ((a.channel === null || a.channel.has(channel)) && (a.metric === null || a.metric.has(metric)))
        return true;
    }
    return false;
  };
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

    // The next part is fetched and decompressed (on libuv's threads) while this one is parsed.
    let next = rt.keys.length > 0 ? loadPart(store, rt.keys[0]!, rt.sizes.get(rt.keys[0]!) ?? 0) : undefined;
    for (let k = 0; k < rt.keys.length; k++) {
      const key = rt.keys[k]!;
      const keyOrder = order++;
      const loaded = await next!;
      const following = rt.keys[k + 1];
      next = following !== undefined ? loadPart(store, following, rt.sizes.get(following) ?? 0) : undefined;
      const onCandidate = (text: string, line: number) => {
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
      let lines: number;
      if (loaded !== 'stream') {
        lines = scanBuffer(loaded, loaded.length, rt.filter, 1, onCandidate);
      } else {
        // Too large to hold, or damaged: stream it, salvaging every line before a break.
        const streamed = await streamPart(store, key, rt.filter, onCandidate);
        lines = streamed.lines;
        if (streamed.failure) {
          malformedLines += 1;
          if (malformed.length < maxReported) malformed.push({ key, ...streamed.failure });
        }
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
  if (typeof customerId === 'string' && customerId !== '') {
    // An id merged into another person by an alias counts for that person.
    return persons.intern(identity.byMergedId.get(customerId) ?? customerId);
  }
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

/** Parts up to this compressed size are read whole (one decompression off the main thread). */
const WHOLE_PART_BYTES = 16 * 1024 * 1024;
const gunzipAsync = promisify(gunzip);
/** Large output chunks: each chunk is a round trip to the main thread, which is busy parsing. */
const GUNZIP_WHOLE_CHUNK = 4 * 1024 * 1024;

/**
 * The decompressed bytes of a part, or `'stream'` when it must be streamed (large or unreadable as a
 * whole). Never rejects: it runs ahead of the part being parsed, unobserved for a while.
 */
async function loadPart(store: ObjectStore, key: string, size: number): Promise<Buffer | 'stream'> {
  if (size > WHOLE_PART_BYTES) return 'stream';
  try {
    return await gunzipAsync(await store.get(key), { chunkSize: GUNZIP_WHOLE_CHUNK });
  } catch {
    return 'stream';
  }
}

/**
 * Walks the lines of `buf[0, length)` (complete lines; a last line without `\n` counts) and hands
 * those that pass the line test to `onCandidate`, decoded. Only candidates are decoded and parsed.
 * Returns the number of lines.
 */
function scanBuffer(
  buf: Buffer,
  length: number,
  filter: FilterSpec | undefined,
  firstLine: number,
  onCandidate: (line: string, lineNumber: number) => void,
): number {
  const test = makeLineTest(filter, buf);
  let start = 0;
  let line = firstLine - 1;
  while (start < length) {
    let nl = buf.indexOf(NEWLINE, start);
    if (nl === -1 || nl > length) nl = length;
    line += 1;
    if (nl > start && (test === undefined || test(start, nl)))
      onCandidate(buf.toString('utf8', start, nl), line);
    start = nl + 1;
  }
  return line - firstLine + 1;
}

/** Streams a part in decompressed chunks, scanning the complete lines of each. */
async function streamPart(
  store: ObjectStore,
  key: string,
  filter: FilterSpec | undefined,
  onCandidate: (line: string, lineNumber: number) => void,
): Promise<{ lines: number; failure?: { line: number; reason: string } }> {
  let rest: Buffer = Buffer.alloc(0);
  let lines = 0;
  try {
    const source = await store.getStream(key);
    const gunzipStream = createGunzip({ chunkSize: GUNZIP_CHUNK });
    source.on('error', (e) => gunzipStream.destroy(e));
    source.pipe(gunzipStream);
    try {
      for await (const chunk of gunzipStream) {
        const buf = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
        const cut = buf.lastIndexOf(NEWLINE);
        if (cut === -1) {
          rest = buf;
          continue;
        }
        lines += scanBuffer(buf, cut, filter, lines + 1, onCandidate);
        rest = buf.subarray(cut + 1);
      }
    } finally {
      source.destroy();
    }
  } catch (error) {
    return {
      lines,
      failure: { line: lines + 1, reason: `unreadable gzip data (${(error as Error).message})` },
    };
  }
  if (rest.length > 0) lines += scanBuffer(rest, rest.length, filter, lines + 1, onCandidate);
  return { lines };
}

/** The first day an audience reads for a window of `days` ending on `day`. */
export function windowStart(day: string, days: number): string {
  return addDays(day, 1 - days);
}
