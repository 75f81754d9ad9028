import { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { dayNumber, type Rec, type RecordDataset } from './compile.js';
import type { Filters } from './config.js';
import { fingerprint } from './id-set.js';
import { compileFilters, pathGetter, toNumber } from './values.js';

/**
 * The per-part half of the build's scan: decompress one raw part, skip the lines no rule can
 * match, parse the rest, and reduce each record that matches a rule's selector to a few numbers —
 * id fingerprint, `received_at`, day, person reference, the sources it counts for and their
 * property values. Everything person-shaped (de-duplication across parts, identity resolution,
 * per-person counters) stays with the coordinator (scan.ts), which applies part results in key
 * order, so the outcome does not depend on which thread scanned which part.
 *
 * Pure and self-contained: it runs in scan worker threads (scan-worker.ts) and, for small inputs
 * and very large parts, on the coordinator's own thread. Its inputs and outputs are plain data
 * and typed arrays, so they cross threads by structured clone / transfer.
 */

/** One source of the dataset as plain data (compile.ts `Source` minus its columns). */
export interface SourceSpec {
  event?: string;
  message?: Filters;
  where?: Filters;
  /** First day of the window, `YYYY-MM-DD`. */
  fromDay: string;
  /** Property paths with numeric aggregates, in the order the coordinator applies them. */
  props: string[];
}

/**
 * How lines that cannot match any rule are skipped unread.
 * - `needles`: a line is read only when it contains one of these JSON strings (event names).
 * - `fields`: a message line is read only when its `channel` / `metric` values could satisfy some
 *   selector (`null`: any value).
 */
export type LineFilter =
  | { kind: 'needles'; needles: string[] }
  | { kind: 'fields'; allowed: { channel: string[] | null; metric: string[] | null }[] };

export interface DatasetSpec {
  dataset: RecordDataset;
  /** The build day: records after it are not counted. */
  lastDay: string;
  sources: SourceSpec[];
  filter: LineFilter | undefined;
}

/** The records of a part that match some source's selector, in line order, as columns. */
export interface RelevantRecords {
  count: number;
  /** Id fingerprints (id-set.ts). */
  idHi: Int32Array;
  idLo: Int32Array;
  /** `received_at` in ms; +Infinity when missing or unreadable (sorts after every real one). */
  receivedMs: Float64Array;
  /** Day number of `ts`. */
  day: Int32Array;
  /** `customer_id`, or `''` when the record has none (its email / cio_id are in `identities`). */
  customerIds: string[];
  identities: { at: number; email?: string; cio_id?: string }[];
  /** Record i counts for sources `sourceList[sourceStart[i] .. sourceStart[i + 1])` (window and `where` passed). */
  sourceStart: Uint32Array;
  sourceList: Uint16Array;
  /** For each listed source, one value per `props` entry (NaN: no numeric value). */
  values: Float64Array;
}

export interface MalformedAt {
  line: number;
  reason: string;
}

export interface PartScan {
  lines: number;
  parsed: number;
  rejected: Record<string, number>;
  malformedLines: number;
  /** The first malformed lines (at most the scanner's report limit). */
  malformed: MalformedAt[];
  records: RelevantRecords;
}

/** The typed arrays of a part scan, for `postMessage` transfer lists. */
export function transferables(scan: PartScan): ArrayBuffer[] {
  const r = scan.records;
  return [r.idHi, r.idLo, r.receivedMs, r.day, r.sourceStart, r.sourceList, r.values].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** Compressed parts up to this size are inflated in one call; larger ones in a stream. */
export const WHOLE_PART_BYTES = 16 * 1024 * 1024;
const STREAM_CHUNK = 256 * 1024;

const NEWLINE = 10;
const QUOTE = 34;
const BACKSLASH = 92;
const CHANNEL_KEY = Buffer.from('"channel":"');
const METRIC_KEY = Buffer.from('"metric":"');
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface CompiledSource {
  index: number;
  fromDay: string;
  where: ((root: unknown) => boolean) | undefined;
  props: ((properties: unknown) => unknown)[];
}

interface SelectorGroup {
  test: (record: Rec) => boolean;
  sources: CompiledSource[];
}

export class PartScanner {
  private readonly isEvents: boolean;
  private readonly byName = new Map<string, CompiledSource[]>();
  private readonly groups: SelectorGroup[] = [];
  private readonly needles: Buffer[] | undefined;
  private readonly allowed: { channel: Set<string> | null; metric: Set<string> | null }[] | undefined;
  private readonly dayNumbers = new Map<string, number>();
  private readonly fp = new Int32Array(2);

  constructor(
    private readonly spec: DatasetSpec,
    private readonly maxReported: number,
  ) {
    this.isEvents = spec.dataset === 'events';
    const groupsByKey = new Map<string, SelectorGroup>();
    spec.sources.forEach((s, index) => {
      const compiled: CompiledSource = {
        index,
        fromDay: s.fromDay,
        where: s.where ? compileFilters(s.where, pathGetter) : undefined,
        props: s.props.map((path) => pathGetter(path)),
      };
      if (s.event !== undefined) {
        const list = this.byName.get(s.event) ?? [];
        list.push(compiled);
        this.byName.set(s.event, list);
      } else {
        const key = JSON.stringify(Object.entries(s.message ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
        let group = groupsByKey.get(key);
        if (!group) {
          group = { test: compileFilters(s.message ?? {}, pathGetter) as (r: Rec) => boolean, sources: [] };
          groupsByKey.set(key, group);
          this.groups.push(group);
        }
        group.sources.push(compiled);
      }
    });
    const filter = spec.filter;
    this.needles = filter?.kind === 'needles' ? filter.needles.map((n) => Buffer.from(n)) : undefined;
    this.allowed =
      filter?.kind === 'fields'
        ? filter.allowed.map((a) => ({
            channel: a.channel ? new Set(a.channel) : null,
            metric: a.metric ? new Set(a.metric) : null,
          }))
        : undefined;
  }

  /** Scans a whole part from its compressed bytes; a damaged part is read up to the damage. */
  async scanCompressed(bytes: Uint8Array): Promise<PartScan> {
    if (bytes.length <= WHOLE_PART_BYTES) {
      let text: Buffer | undefined;
      try {
        text = gunzipSync(bytes);
      } catch {
        // Damaged: stream it to salvage every line before the break.
      }
      if (text) {
        const part = this.begin();
        part.lines = this.scanLines(part, text, text.length, 1);
        return part.finish();
      }
    }
    return this.scanGzipStream(Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)]));
  }

  /** Scans a part from a stream of its compressed bytes, decompressing as it goes. */
  async scanGzipStream(compressed: Readable): Promise<PartScan> {
    const part = this.begin();
    let rest: Buffer = Buffer.alloc(0);
    try {
      const gunzip = createGunzip({ chunkSize: STREAM_CHUNK });
      compressed.on('error', (e) => gunzip.destroy(e));
      compressed.pipe(gunzip);
      try {
        for await (const chunk of gunzip) {
          const buf = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
          const cut = buf.lastIndexOf(NEWLINE);
          if (cut === -1) {
            rest = buf;
            continue;
          }
          part.lines += this.scanLines(part, buf, cut, part.lines + 1);
          rest = buf.subarray(cut + 1);
        }
      } finally {
        compressed.destroy();
      }
    } catch (error) {
      part.malformed(part.lines + 1, `unreadable gzip data (${(error as Error).message})`);
      return part.finish();
    }
    if (rest.length > 0) part.lines += this.scanLines(part, rest, rest.length, part.lines + 1);
    return part.finish();
  }

  private begin(): PartBuilder {
    return new PartBuilder(this.maxReported);
  }

  /**
   * Walks the lines of `buf[0, length)` (a last line without `\n` counts) and reads those that pass
   * the line test. Returns the number of lines.
   */
  private scanLines(part: PartBuilder, buf: Buffer, length: number, firstLine: number): number {
    const test = this.lineTest(buf);
    let start = 0;
    let line = firstLine - 1;
    while (start < length) {
      let nl = buf.indexOf(NEWLINE, start);
      if (nl === -1 || nl > length) nl = length;
      line += 1;
      if (nl > start && (test === undefined || test(start, nl)))
        this.readLine(part, buf.toString('utf8', start, nl), line);
      start = nl + 1;
    }
    return line - firstLine + 1;
  }

  private readLine(part: PartBuilder, text: string, line: number): void {
    let rec: Rec;
    try {
      rec = JSON.parse(text) as Rec;
    } catch {
      part.malformed(line, 'not valid JSON');
      return;
    }
    part.parsed += 1;
    const problem = recordProblem(rec, this.isEvents);
    if (problem) {
      if (problem === 'not_an_object') part.malformed(line, 'not a JSON object');
      else part.rejected[problem] = (part.rejected[problem] ?? 0) + 1;
      return;
    }
    let candidates: CompiledSource[] | undefined;
    if (this.isEvents) candidates = this.byName.get(rec.name as string);
    else {
      for (const g of this.groups) {
        if (!g.test(rec)) continue;
        candidates = candidates ? candidates.concat(g.sources) : g.sources;
      }
    }
    if (!candidates) return;

    fingerprint(rec.id as string, this.fp);
    const d = (rec.ts as string).slice(0, 10);
    const i = part.add(this.fp[0]!, this.fp[1]!, receivedMs(rec.received_at), this.dayNumber(d));
    const customerId = rec.customer_id;
    if (typeof customerId === 'string' && customerId !== '') part.customerIds.push(customerId);
    else {
      part.customerIds.push('');
      part.identities.push({
        at: i,
        ...(typeof rec.email === 'string' ? { email: rec.email } : {}),
        ...(typeof rec.cio_id === 'string' ? { cio_id: rec.cio_id } : {}),
      });
    }
    if (d <= this.spec.lastDay) {
      const target = this.isEvents ? rec.properties : rec;
      for (const s of candidates) {
        if (d < s.fromDay) continue;
        if (s.where && !s.where(target)) continue;
        part.source(s.index);
        for (const get of s.props) part.value(toNumber(get(rec.properties)) ?? Number.NaN);
      }
    }
    part.endRecord();
  }

  private dayNumber(d: string): number {
    let n = this.dayNumbers.get(d);
    if (n === undefined) {
      n = dayNumber(d);
      this.dayNumbers.set(d, n);
    }
    return n;
  }

  /**
   * The line test over a buffer, with one cursor per searched pattern: the next occurrence at or
   * after the current line, so each pattern is searched about once per line that has it and lines
   * without it cost a comparison. Our writers use `JSON.stringify`, which never escapes letters,
   * digits or `_`, so a `checkout_started` record's line contains `"checkout_started"`.
   */
  private lineTest(buf: Buffer): ((start: number, end: number) => boolean) | undefined {
    const { needles, allowed } = this;
    if (needles) {
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
    if (!allowed) return undefined;
    let nextChannel = -2;
    let nextMetric = -2;
    const valueAt = (keyAt: number, keyLength: number, end: number): string | undefined => {
      const from = keyAt + keyLength;
      const close = buf.indexOf(QUOTE, from);
      if (close === -1 || close > end) return undefined;
      // An escaped value is left to the real parser (searched only up to the quote: an unbounded
      // search would run to the end of the part on every line).
      for (let i = from; i < close; i++) if (buf[i] === BACKSLASH) return undefined;
      return buf.toString('utf8', from, close);
    };
    // A line where either key is not found in this exact form (another writer's spacing, an
    // escape) is parsed anyway.
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
}

/** Collects one part's result in growable typed arrays. */
class PartBuilder {
  lines = 0;
  parsed = 0;
  readonly rejected: Record<string, number> = {};
  malformedLines = 0;
  private readonly malformedList: MalformedAt[] = [];
  readonly customerIds: string[] = [];
  readonly identities: RelevantRecords['identities'] = [];
  private count = 0;
  private idHi = new Int32Array(1024);
  private idLo = new Int32Array(1024);
  private received = new Float64Array(1024);
  private day = new Int32Array(1024);
  private sourceStart = new Uint32Array(1025);
  private sourceList = new Uint16Array(1024);
  private sourceCount = 0;
  private values = new Float64Array(256);
  private valueCount = 0;

  constructor(private readonly maxReported: number) {}

  malformed(line: number, reason: string): void {
    this.malformedLines += 1;
    if (this.malformedList.length < this.maxReported) this.malformedList.push({ line, reason });
  }

  add(hi: number, lo: number, receivedMs: number, day: number): number {
    const i = this.count;
    if (i === this.idHi.length) this.growRecords();
    this.idHi[i] = hi;
    this.idLo[i] = lo;
    this.received[i] = receivedMs;
    this.day[i] = day;
    this.sourceStart[i] = this.sourceCount;
    return i;
  }

  source(index: number): void {
    if (this.sourceCount === this.sourceList.length) this.sourceList = grown(this.sourceList);
    this.sourceList[this.sourceCount++] = index;
  }

  value(v: number): void {
    if (this.valueCount === this.values.length) this.values = grown(this.values);
    this.values[this.valueCount++] = v;
  }

  endRecord(): void {
    this.count += 1;
    this.sourceStart[this.count] = this.sourceCount;
  }

  finish(): PartScan {
    return {
      lines: this.lines,
      parsed: this.parsed,
      rejected: this.rejected,
      malformedLines: this.malformedLines,
      malformed: this.malformedList,
      records: {
        count: this.count,
        idHi: this.idHi.slice(0, this.count),
        idLo: this.idLo.slice(0, this.count),
        receivedMs: this.received.slice(0, this.count),
        day: this.day.slice(0, this.count),
        customerIds: this.customerIds,
        identities: this.identities,
        sourceStart: this.sourceStart.slice(0, this.count + 1),
        sourceList: this.sourceList.slice(0, this.sourceCount),
        values: this.values.slice(0, this.valueCount),
      },
    };
  }

  private growRecords(): void {
    this.idHi = grown(this.idHi);
    this.idLo = grown(this.idLo);
    this.received = grown(this.received);
    this.day = grown(this.day);
    const start = new Uint32Array(this.sourceStart.length * 2);
    start.set(this.sourceStart);
    this.sourceStart = start;
  }
}

function grown<T extends Int32Array | Uint16Array | Float64Array>(a: T): T {
  const next = new (a.constructor as new (n: number) => T)(a.length * 2);
  next.set(a);
  return next;
}

/** A missing or unreadable `received_at` sorts after every real one. */
function receivedMs(value: unknown): number {
  if (typeof value !== 'string') return Number.POSITIVE_INFINITY;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : Number.POSITIVE_INFINITY;
}

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
