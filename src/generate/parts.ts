import { dayStartMs } from '../contract/days.js';
import type { Dataset } from '../contract/records.js';
import { writeGzipLines } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * Buffers generated lines per (dataset, day) and writes them as raw parts in the export's layout
 * (`raw/<dataset>/dt=D/part-<first>-<last>.jsonl.gz`). Part ids are synthetic stream ids
 * (`<ms>-<seq>`, derived from the day and the part number), so a rerun with the same seed writes
 * the same keys.
 */
export class PartWriter {
  private readonly buffers = new Map<string, { dataset: Dataset; day: string; lines: string[] }>();
  private readonly partNumbers = new Map<string, number>();
  readonly written: string[] = [];
  lines = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly partSize: number,
    /** Shifts part ids (minutes after the day start), so late parts sort after the regular ones. */
    private readonly minuteOffset = 0,
  ) {}

  private readonly pending: Promise<void>[] = [];

  /** Synchronous: the generator's hot loop must not pay an await per line; writes run behind it. */
  add(dataset: Dataset, day: string, line: string): void {
    const id = `${dataset}/${day}`;
    let buf = this.buffers.get(id);
    if (!buf) {
      buf = { dataset, day, lines: [] };
      this.buffers.set(id, buf);
    }
    buf.lines.push(line);
    this.lines += 1;
    if (buf.lines.length >= this.partSize) this.pending.push(this.flushOne(id));
  }

  /** Waits for the part writes started by `add`. */
  async settle(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }

  /** Writes the buffered lines of one (dataset, day) as a part. */
  async flushOne(id: string): Promise<void> {
    const buf = this.buffers.get(id);
    if (!buf || buf.lines.length === 0) return;
    const n = this.partNumbers.get(id) ?? 0;
    this.partNumbers.set(id, n + 1);
    const base = dayStartMs(buf.day) + (this.minuteOffset + n) * 60_000;
    const key = keys.rawPart(buf.dataset, buf.day, `${base}-0`, `${base}-${buf.lines.length - 1}`);
    // Taken synchronously, so lines added while this write runs go to the next part.
    const lines = buf.lines;
    buf.lines = [];
    // The export's writer: generated parts read back like real ones.
    await writeGzipLines(this.store, key, lines);
    this.written.push(key);
  }

  /** Flushes the parts of one day (all datasets). */
  async flushDay(day: string): Promise<void> {
    await this.settle();
    for (const [id, buf] of this.buffers) if (buf.day === day) await this.flushOne(id);
  }

  async flushAll(): Promise<void> {
    await this.settle();
    for (const id of this.buffers.keys()) await this.flushOne(id);
  }
}
