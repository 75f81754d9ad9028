import type { SyncRow } from '../../connectors/core/types.js';
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

/** Writes a plan's rows as the diff finds them. */
export class StoredPlanWriter implements PlanSink {
  private readonly removes: JsonlWriter<StoredPlanLine>;
  private readonly adds: JsonlWriter<StoredPlanLine>;
  constructor(store: ObjectStore, objects: { removes: string; adds: string }) {
    this.removes = openJsonlWriter(store, objects.removes);
    this.adds = openJsonlWriter(store, objects.adds);
  }
  remove(row: PlanRow): Promise<void> {
    return this.removes.write(toLine(row));
  }
  add(row: PlanRow): Promise<void> {
    return this.adds.write(toLine(row));
  }
  async close(): Promise<void> {
    await Promise.all([this.removes.close(), this.adds.close()]);
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
  };
}

function toRow(line: StoredPlanLine): PlanRow {
  const row: SyncRow = {
    key: line.key,
    keys: line.keys,
    ...(line.attributes ? { attributes: line.attributes } : {}),
    ...(line.consent ? { consent: line.consent } : {}),
  };
  return { row, digest: line.digest, ...(line.input ? { input: line.input } : {}), reason: line.reason };
}

export interface Batch {
  op: 'add' | 'remove' | 'replace';
  /** Index within its op, in plan order. */
  index: number;
  /** Position among all the run's batches: the run record's `batches[number]`. */
  number: number;
  rows: PlanRow[];
}

/** How many batches a plan is cut into: removes first, then adds (a replace: at least one). */
export function batchCount(plan: Pick<PlanOutline, 'mode' | 'counts' | 'batchSize'>): number {
  const size = plan.batchSize;
  if (plan.mode === 'replace') return Math.max(1, Math.ceil(plan.counts.add / size));
  return Math.ceil(plan.counts.remove / size) + Math.ceil(plan.counts.add / size);
}

/**
 * The run's batches from batch `from` on, read from its stored plan. Removes come first: a changed
 * person leaves under the old keys before coming back under the new ones. Batches before `from`
 * are passed over without being parsed.
 */
export async function* planBatches(
  store: ObjectStore,
  record: PlanRecord & Pick<SyncRunRecord, 'mode' | 'plan'>,
  options: { from?: number; ops?: readonly Batch['op'][] } = {},
): AsyncGenerator<Batch> {
  const size = record.plan.batch_size;
  const from = options.from ?? 0;
  const objects = record.plan_objects;
  const legacy = keys.syncPlan(record.destination, record.audience_id, record.run_id, 'legacy');
  const sources: { op: Batch['op']; key: string; only?: 'add' | 'remove' }[] =
    record.mode === 'replace'
      ? [{ op: 'replace', key: objects?.adds ?? legacy }]
      : [
          { op: 'remove', key: objects?.removes ?? legacy, ...(objects ? {} : { only: 'remove' as const }) },
          { op: 'add', key: objects?.adds ?? legacy, ...(objects ? {} : { only: 'add' as const }) },
        ];
  let number = 0;
  for (const source of sources) {
    const count = source.op === 'remove' ? record.plan.remove : record.plan.add;
    const batches = source.op === 'replace' ? Math.max(1, Math.ceil(count / size)) : Math.ceil(count / size);
    if (number + batches <= from || (options.ops && !options.ops.includes(source.op))) {
      number += batches;
      continue;
    }
    const skipRows = Math.max(0, from - number) * size;
    let index = Math.max(0, from - number);
    number += index;
    let rows: PlanRow[] = [];
    let seen = 0;
    for await (const line of readLines(store, source.key)) {
      if (source.only) {
        const parsed = parseLine(source.key, line);
        if ((parsed.op ?? source.only) !== source.only) continue;
        if (seen++ < skipRows) continue;
        rows.push(toRow(parsed));
      } else {
        if (seen++ < skipRows) continue;
        rows.push(toRow(parseLine(source.key, line)));
      }
      if (rows.length === size) {
        yield { op: source.op, index: index++, number: number++, rows };
        rows = [];
      }
    }
    // The platform must be told even an empty replacement, or nothing would be cleared.
    if (rows.length > 0 || (source.op === 'replace' && index === 0)) {
      yield { op: source.op, index: index++, number: number++, rows };
    }
    if (seen !== count) {
      throw new Error(`the stored plan ${source.key} holds ${seen} rows where the run planned ${count}`);
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
