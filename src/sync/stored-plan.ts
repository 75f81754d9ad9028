import type { Capabilities, SyncRow } from '../../connectors/core/types.js';
import { type JsonlWriter, type Line, openJsonlWriter, readLines } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { PlanOutline, PlanRow, PlanSink } from './plan.js';
import type { SyncRunRecord } from './run-record.js';

/**
 * A run's plan, stored before the first batch is sent: the batch loop reads its batches back from
 * here, and a resumed run cuts exactly the same batches again. One gzip JSON Lines object per
 * operation, each in `customer_id` order, so neither writing nor reading holds the plan in memory.
 * They hold hashed keys only, like the requests (a dry run keeps its plan in its outbox).
 */

/** One line of a stored plan (`op` only in the single-object form of earlier versions). */
interface StoredPlanLine {
  op?: 'add' | 'remove';
  key: string;
  digest: string;
  input?: string;
  reason: PlanRow['reason'];
  keys: SyncRow['keys'];
  attributes?: SyncRow['attributes'];
  consent?: SyncRow['consent'];
  /** Write-back: the whole attribute set the ledger records (when `attributes` is only the change). */
  recorded?: PlanRow['recorded'];
}

type PlanRecord = Pick<SyncRunRecord, 'destination' | 'audience_id' | 'run_id' | 'dry_run' | 'plan_objects'>;

/** Where a new run stores its plan. */
export function planObjects(record: PlanRecord): { removes: string; adds: string } {
  const { destination, audience_id: audienceId, run_id: runId } = record;
  return record.dry_run
    ? {
        removes: keys.outboxPlan(destination, audienceId, runId, 'removes'),
        adds: keys.outboxPlan(destination, audienceId, runId, 'adds'),
      }
    : {
        removes: keys.syncPlan(destination, audienceId, runId, 'removes'),
        adds: keys.syncPlan(destination, audienceId, runId, 'adds'),
      };
}

/**
 * Writes a plan's rows as the diff finds them, and counts the batches they will be cut into: with
 * request groups (Google's consent states), a batch never mixes groups.
 */
export class StoredPlanWriter implements PlanSink {
  private readonly removes: JsonlWriter<StoredPlanLine>;
  private readonly adds: JsonlWriter<StoredPlanLine>;
  /** Rows per group, per operation; one group ('') without request groups. */
  private readonly rows = { remove: new Map<string, number>(), add: new Map<string, number>() };
  constructor(
    store: ObjectStore,
    objects: { removes: string; adds: string },
    private readonly cut: {
      size: number;
      mode: PlanOutline['mode'];
      requestGroup?: RequestGroup | undefined;
    },
  ) {
    this.removes = openJsonlWriter(store, objects.removes);
    this.adds = openJsonlWriter(store, objects.adds);
  }
  remove(row: PlanRow): Promise<void> {
    this.count('remove', row);
    return this.removes.write(toLine(row));
  }
  add(row: PlanRow): Promise<void> {
    this.count('add', row);
    return this.adds.write(toLine(row));
  }
  private count(kind: 'remove' | 'add', row: PlanRow): void {
    const op = kind === 'add' && this.cut.mode === 'replace' ? 'replace' : kind;
    const group = this.cut.requestGroup?.(row.row, op) ?? '';
    this.rows[kind].set(group, (this.rows[kind].get(group) ?? 0) + 1);
  }
  async close(): Promise<void> {
    await Promise.all([this.removes.close(), this.adds.close()]);
  }
  async abort(error: unknown): Promise<void> {
    await Promise.all([this.removes.abort(error), this.adds.abort(error)]);
  }
  /** Batches per operation: ceil(rows / size) per group (a replace sends at least one). */
  batches(): { remove: number; add: number } {
    const of = (m: Map<string, number>) =>
      [...m.values()].reduce((n, rows) => n + Math.ceil(rows / this.cut.size), 0);
    const add = of(this.rows.add);
    return { remove: of(this.rows.remove), add: this.cut.mode === 'replace' ? Math.max(1, add) : add };
  }
}

function toLine(r: PlanRow): StoredPlanLine {
  return {
    key: r.row.key,
    digest: r.digest,
    ...(r.input ? { input: r.input } : {}),
    reason: r.reason,
    keys: r.row.keys,
    ...(r.row.attributes ? { attributes: r.row.attributes } : {}),
    ...(r.row.consent ? { consent: r.row.consent } : {}),
    ...(r.recorded ? { recorded: r.recorded } : {}),
  };
}

function toRow(line: StoredPlanLine): PlanRow {
  const row: SyncRow = {
    key: line.key,
    keys: line.keys,
    ...(line.attributes ? { attributes: line.attributes } : {}),
    ...(line.consent ? { consent: line.consent } : {}),
  };
  return {
    row,
    digest: line.digest,
    ...(line.input ? { input: line.input } : {}),
    reason: line.reason,
    ...(line.recorded ? { recorded: line.recorded } : {}),
  };
}

export interface Batch {
  op: 'add' | 'remove' | 'replace';
  /** Index within its op, in plan order. */
  index: number;
  /** Position among all the run's batches: the run record's `batches[number]`. */
  number: number;
  /** The request group all its rows belong to, when the platform has groups. */
  group?: string;
  rows: PlanRow[];
}

export type RequestGroup = NonNullable<Capabilities['requestGroup']>;

type BatchedRecord = PlanRecord & Pick<SyncRunRecord, 'mode' | 'plan'>;

/** How many batches of one operation a run's plan is cut into. */
function batchesOf(record: BatchedRecord, op: 'remove' | 'add'): number {
  const stored = op === 'remove' ? record.plan.remove_batches : record.plan.add_batches;
  if (stored !== undefined) return stored;
  const rows = op === 'remove' ? record.plan.remove : record.plan.add;
  const n = Math.ceil(rows / record.plan.batch_size);
  return op === 'add' && record.mode === 'replace' ? Math.max(1, n) : n;
}

/** How many batches a run's plan is cut into: removes first, then adds (a replace: at least one). */
export function batchCount(record: BatchedRecord): number {
  return (record.mode === 'replace' ? 0 : batchesOf(record, 'remove')) + batchesOf(record, 'add');
}

/**
 * The run's batches from batch `from` on, read from its stored plan. Removes come first: a changed
 * person leaves under the old keys before coming back under the new ones. Without request groups,
 * batches before `from` are passed over unparsed. With them (`record.plan.grouped`), rows wait in
 * their group until it fills a batch, and the groups' remainders follow in group order: memory is a
 * batch per group, and the cut is the same every time the plan is read.
 */
export async function* planBatches(
  store: ObjectStore,
  record: BatchedRecord,
  options: {
    from?: number;
    ops?: readonly Batch['op'][];
    group?: string;
    requestGroup?: RequestGroup | undefined;
  } = {},
): AsyncGenerator<Batch> {
  const size = record.plan.batch_size;
  const from = options.from ?? 0;
  const groupOf = record.plan.grouped ? options.requestGroup : undefined;
  if (record.plan.grouped && !groupOf)
    throw new Error(
      `run ${record.run_id} cuts batches by request group: the connector's requestGroup is needed`,
    );
  const objects = record.plan_objects;
  const legacy = keys.syncPlan(record.destination, record.audience_id, record.run_id, 'legacy');
  const sources: { op: Batch['op']; key: string; only?: 'add' | 'remove'; batches: number; rows: number }[] =
    record.mode === 'replace'
      ? [
          {
            op: 'replace',
            key: objects?.adds ?? legacy,
            batches: batchesOf(record, 'add'),
            rows: record.plan.add,
          },
        ]
      : [
          {
            op: 'remove',
            key: objects?.removes ?? legacy,
            ...(objects ? {} : { only: 'remove' as const }),
            batches: batchesOf(record, 'remove'),
            rows: record.plan.remove,
          },
          {
            op: 'add',
            key: objects?.adds ?? legacy,
            ...(objects ? {} : { only: 'add' as const }),
            batches: batchesOf(record, 'add'),
            rows: record.plan.add,
          },
        ];
  let first = 0;
  for (const source of sources) {
    const start = first;
    first += source.batches;
    if (first <= from || (options.ops && !options.ops.includes(source.op))) continue;
    let number = start;
    let index = 0;
    const wanted = (b: Batch) =>
      b.number >= from && (options.group === undefined || options.group === b.group);
    const batch = (rows: PlanRow[], group?: string): Batch => ({
      op: source.op,
      index: index++,
      number: number++,
      ...(group !== undefined ? { group } : {}),
      rows,
    });
    // Without groups, whole batches before `from` are not even parsed.
    const skipRows = groupOf ? 0 : Math.max(0, from - start) * size;
    if (!groupOf) {
      index = Math.max(0, from - start);
      number = start + index;
    }
    const pending = new Map<string, PlanRow[]>();
    let seen = 0;
    for await (const line of readLines(store, source.key)) {
      let parsed: StoredPlanLine | undefined;
      if (source.only) {
        parsed = parseLine(source.key, line);
        if ((parsed.op ?? source.only) !== source.only) continue;
      }
      if (seen++ < skipRows) continue;
      const row = toRow(parsed ?? parseLine(source.key, line));
      const group = groupOf ? groupOf(row.row, source.op) : '';
      const rows = pending.get(group) ?? [];
      pending.set(group, rows);
      rows.push(row);
      if (rows.length === size) {
        pending.set(group, []);
        const b = batch(rows, groupOf ? group : undefined);
        if (wanted(b)) yield b;
      }
    }
    for (const group of [...pending.keys()].sort()) {
      const rows = pending.get(group)!;
      if (rows.length === 0) continue;
      const b = batch(rows, groupOf ? group : undefined);
      if (wanted(b)) yield b;
    }
    // The platform must be told even an empty replacement, or nothing would be cleared.
    if (source.op === 'replace' && index === 0) {
      const b = batch([]);
      if (wanted(b)) yield b;
    }
    if (seen !== source.rows) {
      throw new Error(
        `the stored plan ${source.key} holds ${seen} rows where the run planned ${source.rows}`,
      );
    }
    if (number !== first) {
      throw new Error(
        `the stored plan ${source.key} was cut into ${number - start} batches where the run planned ${source.batches}`,
      );
    }
  }
}

function parseLine(key: string, line: Line): StoredPlanLine {
  try {
    return JSON.parse(line.text) as StoredPlanLine;
  } catch {
    throw new Error(`the stored plan ${key} has a corrupt line ${line.line}`);
  }
}
