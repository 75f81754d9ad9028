import { today } from '../contract/days.js';
import type { Dataset } from '../contract/records.js';
import type { BufferedLine } from '../ingest/items.js';
import type { QuarantineLine } from '../ingest/validate-record.js';
import type { SuppressionList } from '../privacy/suppression.js';
import { linesSuppressed } from '../privacy/suppression-check.js';
import { writeGzipLines } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * The lines of one export chunk (or one import file chunk), grouped by their `dt` day: one raw part
 * and at most one quarantine part per day, all named from the same deterministic `first`/`last`,
 * so writing the chunk again overwrites the same objects instead of adding copies.
 */

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
const TAB = 9;

export interface PartCounts {
  /** Lines written to `raw/`. */
  written: number;
  /** Lines written to `quarantine/`. */
  quarantined: number;
  /** Lines (raw or quarantine) about an erased person: dropped, not written. */
  suppressed: number;
}

export class PartSet {
  private readonly raw = new Map<string, string[]>();
  private readonly quarantine = new Map<string, string[]>();
  readonly counts: PartCounts = { written: 0, quarantined: 0, suppressed: 0 };

  /**
   * `suppression`: the erased people, whose lines are dropped here, the last step before an object
   * is written (a record buffered before the erasure must not be stored after it). While the list
   * is empty this costs nothing; otherwise a line that does not carry its `subject` is parsed once.
   */
  constructor(
    readonly dataset: Dataset,
    private readonly suppression: SuppressionList,
  ) {}

  add(line: Pick<BufferedLine, 'kind' | 'day' | 'json' | 'subject'>): void {
    if (this.suppression.size > 0 && linesSuppressed(this.suppression, [line])) {
      this.counts.suppressed += 1;
      return;
    }
    if (line.kind === 'r') {
      push(this.raw, line.day, line.json);
      this.counts.written += 1;
    } else {
      push(this.quarantine, line.day, line.json);
      this.counts.quarantined += 1;
    }
  }

  /**
   * Adds the `<day>\t<json>` lines of a buffer entry field. The JSON is passed through untouched:
   * it was validated at ingest. A line without a usable day is quarantined instead of failing the
   * whole export (which would block the stream behind it).
   */
  addEntryText(kind: 'r' | 'q', text: string, origin: Record<string, string | number>): void {
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end === -1) end = text.length;
      const day = text.slice(start, start + 10);
      if (end - start > 11 && text.charCodeAt(start + 10) === TAB && DAY_RE.test(day)) {
        this.add({ kind, day, json: text.slice(start + 11, end) });
      } else if (end > start) {
        this.addMalformed(text.slice(start, end), origin);
      }
      start = end + 1;
    }
  }

  private addMalformed(text: string, origin: Record<string, string | number>): void {
    const line: QuarantineLine = {
      dataset: this.dataset,
      rejected: true,
      reasons: [{ code: 'bad_value', path: '', message: 'buffer line is not <day><tab><json>' }],
      record: text,
      ...origin,
    };
    this.add({ kind: 'q', day: today(), json: JSON.stringify(line) });
  }

  get days(): string[] {
    return [...new Set([...this.raw.keys(), ...this.quarantine.keys()])].sort();
  }

  get size(): number {
    return this.counts.written + this.counts.quarantined;
  }

  /** Writes every part; returns the keys written, sorted. */
  async write(store: ObjectStore, first: string, last: string): Promise<string[]> {
    const writes: { key: string; lines: string[] }[] = [];
    for (const [dt, lines] of this.raw)
      writes.push({ key: keys.rawPart(this.dataset, dt, first, last), lines });
    for (const [dt, lines] of this.quarantine) {
      writes.push({ key: keys.quarantinePart(this.dataset, dt, `${first}-${last}`), lines });
    }
    // Parallel: compression runs on the thread pool, uploads overlap.
    await Promise.all(writes.map((w) => writeGzipLines(store, w.key, w.lines)));
    return writes.map((w) => w.key).sort();
  }
}

function push(map: Map<string, string[]>, key: string, line: string): void {
  const lines = map.get(key);
  if (lines) lines.push(line);
  else map.set(key, [line]);
}
