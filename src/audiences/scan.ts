import { isAscii } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
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
  /** A relevant line contains every needle of at least one group; undefined: parse every line. */
  needles: string[][] | undefined;
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
  // Needle groups: a line can only match a selector if it contains every quoted string value the
  // selector pins (`"checkout_started"`; `"sms"` and `"delivered"`). A selector that pins no string
  // value (numbers only, operators) turns the prefilter off for its dataset.
  let needles: string[][] | undefined = [];
  for (const g of groupsByKey.values()) {
    const source = g.sources[0]!;
    const values =
      source.event !== undefined
        ? [source.event]
        : Object.values(source.message ?? {}).filter((v): v is string => typeof v === 'string');
    if (values.length === 0) {
      needles = undefined;
      break;
    }
    needles.push(values.map((v) => JSON.stringify(v)));
  }
  return { dataset: plan.dataset, keys: partKeys, sizes, needles, byName, groups: [...groupsByKey.values()] };
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
      if (typeof loaded === 'string') {
        lines = scanText(loaded, needles, 1, onCandidate);
      } else {
        // Too large to hold, or damaged: stream it, salvaging every line before a break.
        const streamed = await streamPart(store, key, needles, onCandidate);
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

/** Parts up to this compressed size are read whole (one decompression off the main thread). */
const WHOLE_PART_BYTES = 16 * 1024 * 1024;
const gunzipAsync = promisify(gunzip);
/** Large output chunks: each chunk is a round trip to the main thread, which is busy parsing. */
const GUNZIP_WHOLE_CHUNK = 4 * 1024 * 1024;

/**
 * The decompressed text of a part, or `'stream'` when it must be streamed (large or unreadable as a
 * whole). Never rejects: it runs ahead of the part being parsed, unobserved for a while.
 */
async function loadPart(store: ObjectStore, key: string, size: number): Promise<string | 'stream'> {
  if (size > WHOLE_PART_BYTES) return 'stream';
  try {
    const raw = await gunzipAsync(await store.get(key), { chunkSize: GUNZIP_WHOLE_CHUNK });
    // ASCII (most event data) decodes as latin1 at memcpy speed, with the same result.
    return isAscii(raw) ? raw.toString('latin1') : raw.toString('utf8');
  } catch {
    return 'stream';
  }
}

/**
 * Walks the lines of `text` (complete lines; a last line without `\n` counts) and hands those that
 * pass the needle prefilter to `onCandidate`. Needle positions are kept as cursors into the text, so
 * a line that cannot match costs one `indexOf('\n')` and a few comparisons — no slicing, no search.
 * Returns the number of lines.
 */
function scanText(
  text: string,
  groups: string[][] | undefined,
  firstLine: number,
  onCandidate: (line: string, lineNumber: number) => void,
): number {
  const flat = groups ? [...new Set(groups.flat())] : [];
  const groupIdx = groups ? groups.map((g) => g.map((n) => flat.indexOf(n))) : [];
  // Cursor per needle: its next occurrence at or after the current line (-1: none left).
  const next = new Float64Array(flat.length).fill(-2);
  // Lines each needle was found on: groups test their rarest needle first, so a common one
  // ("email") is searched only on lines that already have the rare one ("clicked").
  const hits = new Float64Array(flat.length);
  const length = text.length;
  let start = 0;
  let line = firstLine - 1;
  let sinceSort = 0;
  while (start < length) {
    let nl = text.indexOf('\n', start);
    if (nl === -1) nl = length;
    line += 1;
    if (nl > start) {
      let hit = groups === undefined;
      for (let g = 0; g < groupIdx.length && !hit; g++) {
        const idx = groupIdx[g]!;
        let all = true;
        for (let j = 0; j < idx.length; j++) {
          const i = idx[j]!;
          let at = next[i]!;
          if (at !== -1 && at < start) {
            at = text.indexOf(flat[i]!, start);
            next[i] = at;
          }
          if (at === -1 || at >= nl) {
            all = false;
            break;
          }
          hits[i]! += 1;
        }
        hit = all;
      }
      if (++sinceSort === 4096) {
        sinceSort = 0;
        for (const idx of groupIdx) idx.sort((a, b) => hits[a]! - hits[b]!);
      }
      if (hit) onCandidate(text.slice(start, nl), line);
    }
    start = nl + 1;
  }
  return line - firstLine + 1;
}

/** Streams a part in decompressed chunks, scanning the complete lines of each. */
async function streamPart(
  store: ObjectStore,
  key: string,
  groups: string[][] | undefined,
  onCandidate: (line: string, lineNumber: number) => void,
): Promise<{ lines: number; failure?: { line: number; reason: string } }> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let lines = 0;
  try {
    const source = await store.getStream(key);
    const gunzipStream = createGunzip({ chunkSize: GUNZIP_CHUNK });
    source.on('error', (e) => gunzipStream.destroy(e));
    source.pipe(gunzipStream);
    try {
      for await (const chunk of gunzipStream) {
        const text = rest + decoder.write(chunk as Buffer);
        const cut = text.lastIndexOf('\n');
        if (cut === -1) {
          rest = text;
          continue;
        }
        lines += scanText(text.slice(0, cut), groups, lines + 1, onCandidate);
        rest = text.slice(cut + 1);
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
  rest += decoder.end();
  if (rest.length > 0) lines += scanText(rest, groups, lines + 1, onCandidate);
  return { lines };
}

/** The first day an audience reads for a window of `days` ending on `day`. */
export function windowStart(day: string, days: number): string {
  return addDays(day, 1 - days);
}
