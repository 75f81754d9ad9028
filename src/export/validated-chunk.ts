import type { Dataset } from '../contract/records.js';
import type { Rejection } from '../contract/rejection.js';
import { canonicalTimestamp, utcDay } from '../contract/timestamp.js';
import { type Checked, checkEvent, checkMessage, checkPerson } from '../contract/validate.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { putGzipLines } from './gzip-lines.js';

/**
 * One chunk of loose records on its way to `raw/`: validated with the data contract, grouped by the
 * UTC day of their event time (late data lands in its own day), and written as one part per day.
 * Records or fields that break the contract go to `quarantine/` with their reasons, under the same
 * part name, so a re-run of the chunk overwrites both instead of adding copies.
 */

export type RecordCheck = (loose: unknown) => Checked<{ ts: string }>;

export interface CheckSettings {
  /** Event-name normalizer with the configured `event_aliases`. */
  normalizeName?: (raw: string) => string;
}

export function checkerFor(dataset: Dataset, settings: CheckSettings = {}): RecordCheck {
  switch (dataset) {
    case 'events': {
      const options = settings.normalizeName ? { normalizeName: settings.normalizeName } : {};
      return (loose) => checkEvent(loose, options);
    }
    case 'messages':
      return (loose) => checkMessage(loose);
    case 'people':
      return (loose) => checkPerson(loose);
  }
}

/** What a quarantine line says about where the record came from (a stream id, a file and row). */
export type Origin = Record<string, string | number>;

export interface QuarantineLine extends Record<string, unknown> {
  dataset: Dataset;
  /** `true`: the record was not stored; `false`: it was stored without the fields named in `reasons`. */
  rejected: boolean;
  reasons: Rejection[];
  record: unknown;
}

export interface ChunkCounts {
  records: number;
  written: number;
  /** Records with at least one problem (rejected or with dropped fields). */
  quarantined: number;
  rejected: number;
}

export class ValidatedChunk {
  private readonly raw = new Map<string, string[]>();
  private readonly quarantine = new Map<string, string[]>();
  readonly counts: ChunkCounts = { records: 0, written: 0, quarantined: 0, rejected: 0 };

  constructor(
    readonly dataset: Dataset,
    private readonly check: RecordCheck,
    /** Day for rejected records that carry no usable time at all. */
    private readonly fallbackDay: string,
  ) {}

  add(loose: unknown, origin: Origin): void {
    this.counts.records += 1;
    const { record, problems } = this.check(loose);
    if (record) {
      push(this.raw, utcDay(record.ts), `${JSON.stringify(record)}\n`);
      this.counts.written += 1;
    }
    if (problems.length === 0) return;
    this.counts.quarantined += 1;
    if (!record) this.counts.rejected += 1;
    const line: QuarantineLine = {
      dataset: this.dataset,
      rejected: !record,
      reasons: problems,
      record: loose,
      ...origin,
    };
    push(this.quarantine, record ? utcDay(record.ts) : this.dayOf(loose), `${JSON.stringify(line)}\n`);
  }

  get days(): string[] {
    return [...this.raw.keys()].sort();
  }

  /** Writes every part; returns the keys written. `first`/`last` name the parts deterministically. */
  async write(store: ObjectStore, first: string, last: string): Promise<string[]> {
    const writes: { key: string; lines: string[] }[] = [];
    for (const [dt, lines] of this.raw)
      writes.push({ key: keys.rawPart(this.dataset, dt, first, last), lines });
    for (const [dt, lines] of this.quarantine) {
      writes.push({ key: keys.quarantinePart(this.dataset, dt, `${first}-${last}`), lines });
    }
    await Promise.all(writes.map((w) => putGzipLines(store, w.key, w.lines)));
    return writes.map((w) => w.key).sort();
  }

  private dayOf(loose: unknown): string {
    if (typeof loose === 'object' && loose !== null) {
      const l = loose as Record<string, unknown>;
      for (const field of ['ts', 'received_at']) {
        const ts = canonicalTimestamp(l[field], field);
        if (ts.ok) return utcDay(ts.value);
      }
    }
    return this.fallbackDay;
  }
}

function push(map: Map<string, string[]>, key: string, line: string): void {
  const lines = map.get(key);
  if (lines) lines.push(line);
  else map.set(key, [line]);
}
