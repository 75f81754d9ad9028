import { Readable } from 'node:stream';
import { createGunzip, gunzipSync } from 'node:zlib';
import { type PersonIndex, UNKNOWN } from '../people/person-index.js';
import { dayNumber, type Rec, type RecordDataset } from './compile.js';
import type { Filters } from './config.js';
import { fingerprint } from './id-set.js';
import { compileFilters, pathGetter, toNumber } from './values.js';

/**
 * The per-part half of the build's scan: decompress one raw part, skip the lines no rule can
 * match, parse the rest, and reduce each record that matches a rule's selector to a few numbers —
 * id fingerprint, `received_at`, day, person number (people/person-index.ts), the sources it
 * counts for and their property values. What spans parts (de-duplication, new people, per-person
 * counters) stays with the coordinator (scan.ts), which applies part results in key order, so the
 * outcome does not depend on which thread scanned which part.
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

export interface DatasetSpec {
  dataset: RecordDataset;
  /** The build day: records after it are not counted. */
  lastDay: string;
  sources: SourceSpec[];
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
  /**
   * The person number (person-index.ts); NEW_PERSON for a `customer_id` the snapshot does not
   * know (the ids are in `newIds`, in record order); UNKNOWN when the record's email / cio_id do
   * not resolve.
   */
  person: Int32Array;
  newIds: string[];
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
  return [r.idHi, r.idLo, r.receivedMs, r.day, r.person, r.sourceStart, r.sourceList, r.values].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** A `customer_id` the snapshot does not have: the coordinator gives it a new person number. */
export const NEW_PERSON = -2;

/** Compressed parts up to this size are inflated in one call; larger ones in a stream. */
export const WHOLE_PART_BYTES = 16 * 1024 * 1024;
const STREAM_CHUNK = 256 * 1024;

const NEWLINE = 10;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
/** Decoded slice length: below V8's large-object size, so slices are cheap young garbage. */
const TEXT_SLICE = 100 * 1024;
/** How much of the first part is sampled to choose the message finder. */
const SAMPLE_BYTES = 4 * 1024 * 1024;
/** The largest output buffer preallocated from a gzip trailer. */
const MAX_OUTPUT_CHUNK = 512 * 1024 * 1024;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface CompiledSource {
  index: number;
  fromDay: string;
  where: ((root: unknown) => boolean) | undefined;
  props: ((properties: unknown) => unknown)[];
}

interface SelectorGroup {
  test: (record: Rec) => boolean;
  message: Filters;
  sources: CompiledSource[];
}

export class PartScanner {
  private readonly isEvents: boolean;
  private readonly byName = new Map<string, CompiledSource[]>();
  private readonly groups: SelectorGroup[] = [];
  /** Message groups by `channel\nmetric`, when every group pins both to plain strings. */
  private readonly groupsByPair: Map<string, SelectorGroup[]> | undefined;
  /** Finds lines that may match (undefined: every line is read). */
  private finder: RegExp | undefined;
  /** Messages: the channel / metric pairs some selector accepts, checked before a line is parsed. */
  private readonly allowed: { channel: Set<string> | null; metric: Set<string> | null }[] | undefined;
  private readonly dayNumbers = new Map<string, number>();
  private readonly fp = new Int32Array(2);
  private receivedDay = '';
  private lastDay = '';
  private lastDayNumber = 0;
  /** The buffer and offset of the text slice being scanned. */
  private bytes: Buffer = Buffer.alloc(0);
  private base = 0;
  private receivedDayMs = Number.NaN;

  constructor(
    private readonly spec: DatasetSpec,
    private readonly people: PersonIndex,
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
          group = {
            test: compileFilters(s.message ?? {}, pathGetter) as (r: Rec) => boolean,
            message: s.message ?? {},
            sources: [],
          };
          groupsByKey.set(key, group);
          this.groups.push(group);
        }
        group.sources.push(compiled);
      }
    });
    // Lines that cannot match any rule are skipped unread. Events: a `checkout_started` record's
    // line contains `"checkout_started"` (our writers use `JSON.stringify`, which writes a string
    // the same way every time). Messages: see `chooseFinder`, chosen on the first part seen.
    if (this.byName.size > 0) this.finder = anyOf([...this.byName.keys()].map((n) => JSON.stringify(n)));
    const pins = this.groups.map((g) => ({
      channel: pinned(g.message.channel),
      metric: pinned(g.message.metric),
    }));
    // A selector that pins neither field can match any line.
    if (pins.length > 0 && pins.every((p) => p.channel || p.metric)) {
      this.allowed = pins.map((p) => ({
        channel: p.channel ? new Set(p.channel) : null,
        metric: p.metric ? new Set(p.metric) : null,
      }));
    }
    // With every selector pinning both fields, a record is tested only against the groups of its pair.
    if (pins.length > 0 && pins.every((p) => p.channel && p.metric)) {
      this.groupsByPair = new Map();
      this.groups.forEach((g, i) => {
        for (const c of pins[i]!.channel!)
          for (const m of pins[i]!.metric!) {
            const list = this.groupsByPair!.get(`${c}\n${m}`) ?? [];
            if (!list.includes(g)) list.push(g);
            this.groupsByPair!.set(`${c}\n${m}`, list);
          }
      });
    }
  }

  /** Scans a whole part from its compressed bytes; a damaged part is read up to the damage. */
  async scanCompressed(bytes: Uint8Array): Promise<PartScan> {
    if (bytes.length <= WHOLE_PART_BYTES) {
      let data: Buffer | undefined;
      try {
        data = gunzipSync(bytes, { chunkSize: outputChunkSize(bytes) });
      } catch {
        // Damaged: stream it to salvage every line before the break.
      }
      if (data) {
        const part = this.begin();
        this.scanBuffer(part, data, data.length, true);
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
          this.scanBuffer(part, buf, cut, false);
          rest = buf.subarray(cut + 1);
        }
      } finally {
        compressed.destroy();
      }
    } catch (error) {
      part.malformed(part.lines + 1, `unreadable gzip data (${(error as Error).message})`);
      return part.finish();
    }
    if (rest.length > 0) this.scanBuffer(part, rest, rest.length, true);
    return part.finish();
  }

  /**
   * Scans `buf[0, length)` in line-aligned slices decoded to strings of at most about
   * `TEXT_SLICE` characters: small enough to be young-generation garbage (a whole part as one
   * string would be fresh memory, and page faults, for every part). `final`: the range ends the
   * part (otherwise a newline follows it, so its last line is complete even when empty).
   */
  private scanBuffer(part: PartBuilder, buf: Buffer, length: number, final: boolean): void {
    if (this.allowed && !this.finder) this.finder = this.chooseFinder(buf, length);
    let pos = 0;
    for (;;) {
      let cut = length;
      if (length - pos > TEXT_SLICE) {
        cut = buf.lastIndexOf(NEWLINE, pos + TEXT_SLICE);
        if (cut < pos) {
          cut = buf.indexOf(NEWLINE, pos + TEXT_SLICE);
          if (cut === -1 || cut > length) cut = length;
        }
      }
      const last = cut === length;
      // Latin-1 maps each byte to one character: a cheap copy, string positions are byte offsets,
      // and ASCII needles match UTF-8 text exactly. Lines are decoded as UTF-8 when read.
      this.bytes = buf;
      this.base = pos;
      part.lines += this.scanText(
        part,
        buf.toString('latin1', pos, cut),
        part.lines + 1,
        last ? final : false,
      );
      if (last) return;
      pos = cut + 1;
    }
  }

  /**
   * Messages: a line can match a channel / metric pair only where the pair's pinned values are
   * written (`"metric":"opened"`: our writers use `JSON.stringify`, so a value is always written
   * the same way). Each pair is looked for by whichever of its pinned fields is rarer in the
   * first data seen ("sms" beats "delivered" when most deliveries are emails); every line found is
   * then checked for the whole pair before it is parsed, so the choice changes speed, not results.
   */
  private chooseFinder(buf: Buffer, length: number): RegExp {
    const sample = buf.subarray(0, Math.min(length, SAMPLE_BYTES));
    const counts = new Map<string, number>();
    const count = (needle: string) => {
      let n = counts.get(needle);
      if (n === undefined) {
        n = 0;
        const bytes = Buffer.from(needle);
        for (let at = sample.indexOf(bytes); at !== -1; at = sample.indexOf(bytes, at + bytes.length)) n += 1;
        counts.set(needle, n);
      }
      return n;
    };
    const needles: string[] = [];
    for (const a of this.allowed!) {
      const metric = a.metric ? [...a.metric].map((v) => `"metric":${JSON.stringify(v)}`) : undefined;
      const channel = a.channel ? [...a.channel].map((v) => `"channel":${JSON.stringify(v)}`) : undefined;
      const total = (list: string[]) => list.reduce((n, x) => n + count(x), 0);
      needles.push(...(metric && (!channel || total(metric) <= total(channel)) ? metric : channel!));
    }
    return anyOf(needles);
  }

  private begin(): PartBuilder {
    return new PartBuilder(this.maxReported);
  }

  /**
   * Reads the lines of `text` that may match a rule (every line without a finder) and returns the
   * number of lines. The finder runs over the whole text in one go, far cheaper than testing line
   * by line: most lines are only counted. A counted line that is not shaped like a JSON object
   * (`{` ... `}`: truncated, garbage) is parsed anyway, so damage is reported wherever it is.
   * Empty lines count and are skipped. `final`: see `scanBuffer`.
   */
  private scanText(part: PartBuilder, text: string, firstLine: number, final: boolean): number {
    const finder = this.finder;
    // The next line not yet handled starts at `lineStart` and has number `line`.
    let line = firstLine;
    let lineStart = 0;
    if (finder) {
      finder.lastIndex = 0;
      while (finder.test(text)) {
        const hit = finder.lastIndex;
        const start = text.lastIndexOf('\n', hit - 1) + 1;
        let end = text.indexOf('\n', hit);
        if (end === -1) end = text.length;
        while (lineStart < start) {
          const nl = text.indexOf('\n', lineStart);
          this.checkShape(part, text, lineStart, nl, line);
          lineStart = nl + 1;
          line += 1;
        }
        if (this.mayMatch(text, start, end)) this.readLine(part, this.lineAt(start, end), line);
        else this.checkShape(part, text, start, end, line);
        lineStart = end + 1;
        line += 1;
        if (end === text.length) break;
        finder.lastIndex = end + 1;
      }
    }
    while (lineStart <= text.length) {
      const nl = text.indexOf('\n', lineStart);
      const end = nl === -1 ? text.length : nl;
      // After the last newline of a part there is a line only when it has content.
      if (nl === -1 && final && end === lineStart) break;
      if (finder) this.checkShape(part, text, lineStart, end, line);
      else if (end > lineStart) this.readLine(part, this.lineAt(lineStart, end), line);
      lineStart = end + 1;
      line += 1;
    }
    return line - firstLine;
  }

  /** The line at `[start, end)` of the current slice's text, decoded as UTF-8. */
  private lineAt(start: number, end: number): string {
    return this.bytes.toString('utf8', this.base + start, this.base + end);
  }

  private checkShape(part: PartBuilder, text: string, start: number, end: number, line: number): void {
    if (end > start && (text.charCodeAt(start) !== OPEN_BRACE || text.charCodeAt(end - 1) !== CLOSE_BRACE))
      this.readLine(part, this.lineAt(start, end), line);
  }

  /**
   * Messages: whether the line's `channel` and `metric` could satisfy some selector. A line where
   * either is not written plainly (an escape) is left to the parser.
   */
  private mayMatch(text: string, start: number, end: number): boolean {
    const allowed = this.allowed;
    if (!allowed) return true;
    const channel = plainValue(CHANNEL_VALUE, text, start, end);
    const metric = plainValue(METRIC_VALUE, text, start, end);
    if (channel === undefined || metric === undefined) return true;
    for (const a of allowed) {
      if ((a.channel === null || a.channel.has(channel)) && (a.metric === null || a.metric.has(metric)))
        return true;
    }
    return false;
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
      const groups = this.groupsByPair
        ? this.groupsByPair.get(`${rec.channel as string}\n${rec.metric as string}`)
        : this.groups;
      for (const g of groups ?? []) {
        if (!g.test(rec)) continue;
        candidates = candidates ? candidates.concat(g.sources) : g.sources;
      }
    }
    if (!candidates) return;

    fingerprint(rec.id as string, this.fp);
    const d = (rec.ts as string).slice(0, 10);
    const customerId = rec.customer_id;
    let person: number;
    if (typeof customerId === 'string' && customerId !== '') {
      person = this.people.byCustomerId(customerId);
      if (person === UNKNOWN) {
        person = NEW_PERSON;
        part.newIds.push(customerId);
      }
    } else {
      person = this.people.byContact(
        typeof rec.email === 'string' ? rec.email : undefined,
        typeof rec.cio_id === 'string' ? rec.cio_id : undefined,
      );
    }
    part.add(this.fp[0]!, this.fp[1]!, this.receivedMs(rec.received_at), this.dayNumber(d), person);
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

  /**
   * `Date.parse(received_at)`, +Infinity when missing or unreadable. The canonical form
   * `YYYY-MM-DDTHH:MM:SS.sssZ` is computed from the day (parsed once per day, by Date.parse, so
   * day validity is exactly its) plus the time of day: Date.parse is the slowest step otherwise.
   */
  private receivedMs(value: unknown): number {
    if (typeof value !== 'string') return Number.POSITIVE_INFINITY;
    if (
      value.length === 24 &&
      value.charCodeAt(10) === 84 && // T
      value.charCodeAt(13) === 58 && // :
      value.charCodeAt(16) === 58 &&
      value.charCodeAt(19) === 46 && // .
      value.charCodeAt(23) === 90 // Z
    ) {
      const h = digits(value, 11, 2);
      const m = digits(value, 14, 2);
      const sec = digits(value, 17, 2);
      const ms = digits(value, 20, 3);
      if (h >= 0 && h < 24 && m >= 0 && m < 60 && sec >= 0 && sec < 60 && ms >= 0) {
        const day = value.slice(0, 10);
        if (day !== this.receivedDay) {
          this.receivedDay = day;
          this.receivedDayMs = Date.parse(`${day}T00:00:00.000Z`);
        }
        if (Number.isFinite(this.receivedDayMs))
          return this.receivedDayMs + ((h * 60 + m) * 60 + sec) * 1000 + ms;
      }
    }
    const parsed = Date.parse(value);
    return Number.isFinite(parsed) ? parsed : Number.POSITIVE_INFINITY;
  }

  private dayNumber(d: string): number {
    // Records of a part are mostly of one day.
    if (d === this.lastDay) return this.lastDayNumber;
    let n = this.dayNumbers.get(d);
    if (n === undefined) {
      n = dayNumber(d);
      this.dayNumbers.set(d, n);
    }
    this.lastDay = d;
    this.lastDayNumber = n;
    return n;
  }
}

/** Collects one part's result in growable typed arrays. */
class PartBuilder {
  lines = 0;
  parsed = 0;
  readonly rejected: Record<string, number> = {};
  malformedLines = 0;
  private readonly malformedList: MalformedAt[] = [];
  readonly newIds: string[] = [];
  private count = 0;
  private idHi = new Int32Array(1024);
  private idLo = new Int32Array(1024);
  private received = new Float64Array(1024);
  private day = new Int32Array(1024);
  private person = new Int32Array(1024);
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

  add(hi: number, lo: number, receivedMs: number, day: number, person: number): void {
    const i = this.count;
    if (i === this.idHi.length) this.growRecords();
    this.idHi[i] = hi;
    this.idLo[i] = lo;
    this.received[i] = receivedMs;
    this.day[i] = day;
    this.person[i] = person;
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
        person: this.person.slice(0, this.count),
        newIds: this.newIds,
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
    this.person = grown(this.person);
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

// Printable ASCII without quote or backslash: anything else (escapes, UTF-8 bytes seen as Latin-1)
// is left to the parser.
const CHANNEL_VALUE = /"channel":"([ !#-[\]-~]*)"/g;
const METRIC_VALUE = /"metric":"([ !#-[\]-~]*)"/g;

/** The first `"key":"value"` of `pattern` within `[start, end)`, when its value has no escapes. */
function plainValue(pattern: RegExp, text: string, start: number, end: number): string | undefined {
  pattern.lastIndex = start;
  const m = pattern.exec(text);
  return m && pattern.lastIndex <= end ? m[1] : undefined;
}

/** The values a selector field accepts when it pins them: `"email"` or `{ in: [...] }` of strings. */
function pinned(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  const list = (v as { in?: unknown } | undefined)?.in;
  if (
    v &&
    typeof v === 'object' &&
    Object.keys(v).length === 1 &&
    Array.isArray(list) &&
    list.every((x) => typeof x === 'string')
  )
    return list as string[];
  return null;
}

/** A global pattern finding any of the literal strings. */
function anyOf(literals: string[]): RegExp {
  // Matched against Latin-1 text: a literal is looked for as its UTF-8 bytes.
  const escaped = [...new Set(literals.map((l) => Buffer.from(l, 'utf8').toString('latin1')))].map((l) =>
    l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
  );
  return new RegExp(escaped.join('|'), 'g');
}

/**
 * The output buffer size for inflating `gzip` in one call: the size its trailer declares (ISIZE,
 * exact for a single-member gzip under 4 GiB) plus a little, so the output is one allocation of
 * the right size instead of many small chunks concatenated. A wrong guess only costs speed.
 */
function outputChunkSize(gzip: Uint8Array): number {
  const n = gzip.length;
  const declared =
    n >= 18 ? (gzip[n - 4]! | (gzip[n - 3]! << 8) | (gzip[n - 2]! << 16) | (gzip[n - 1]! << 24)) >>> 0 : 0;
  return Math.min(Math.max(declared + 1024, 64 * 1024), MAX_OUTPUT_CHUNK);
}

/** The decimal number written by `length` digits at `at`, or -1 when one is not a digit. */
function digits(text: string, at: number, length: number): number {
  let n = 0;
  for (let i = at; i < at + length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
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
