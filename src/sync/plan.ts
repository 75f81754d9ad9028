import type { AttributeValue, Capabilities, IdentifierType, SyncRow } from '../../connectors/core/types.js';
import type { DesiredRow, DesiredStats } from './desired.js';
import type { LedgerEntry } from './ledger.js';

/**
 * The minimal change set between what should be on the platform and what the ledger says is there.
 * A person whose keys changed is removed under the old keys and added under the new ones, so the
 * platform never keeps a stale identifier.
 */
export interface PlanRow {
  row: SyncRow;
  digest: string;
  input?: string;
  /** `compliance`: deleted, unsubscribed or consent withdrawn — never held back by guards. */
  reason: 'new' | 'changed' | 'left' | 'compliance';
  /**
   * Write-back: the person's whole attribute set, which the ledger records once the row is
   * confirmed, when the row sends only part of it (the values that changed).
   */
  recorded?: Record<string, AttributeValue>;
}

export interface PlanCounts {
  desired: number;
  ledger: number;
  add: number;
  remove: number;
  changed: number;
  unchanged: number;
  /** Size after the plan is applied. */
  after: number;
  /** Removals because the person left the audience (what the remove-share guard weighs). */
  left: number;
}

/** A plan without its rows: what the guards, the run record and the batch loop need to know. */
export interface PlanOutline {
  mode: 'diff' | 'replace';
  counts: PlanCounts;
  batchSize: number;
  /** Upload requests the plan needs: ceil(changes / batch size), per request kind. */
  requests: number;
}

/** One person on either side of the comparison, in `customer_id` order (see desired.ts). */
export interface DiffItem {
  id: string;
  /** What should be on the platform for this person; absent when they should not be. */
  desired?: DesiredRow;
  /** What the ledger says the platform holds for them. */
  held?: LedgerEntry;
  /** Deleted, unsubscribed or without consent: their removal is a compliance removal. */
  mustLeave: boolean;
}

/** Where a plan's rows go as they are found: stored for the batch loop, or kept for a preview. */
export interface PlanSink {
  remove(row: PlanRow): Promise<void> | void;
  add(row: PlanRow): Promise<void> | void;
}

/**
 * Compares the desired set with the ledger, one person at a time, in `customer_id` order: memory
 * does not depend on the audience's size. Removals and additions reach the sink each in that order,
 * so batches are reproducible and a resumed run cuts the same ones.
 */
export async function computePlan(
  items: AsyncIterable<DiffItem> | Iterable<DiffItem>,
  capabilities: Pick<Capabilities, 'addsAndRemovesShareRequest'>,
  batchSize: number,
  mode: 'diff' | 'replace',
  sink: PlanSink,
): Promise<PlanOutline> {
  const counts: PlanCounts = {
    desired: 0,
    ledger: 0,
    add: 0,
    remove: 0,
    changed: 0,
    unchanged: 0,
    after: 0,
    left: 0,
  };
  const add = async (row: PlanRow) => {
    counts.add += 1;
    await sink.add(row);
  };
  const remove = async (row: PlanRow) => {
    counts.remove += 1;
    if (row.reason === 'left') counts.left += 1;
    await sink.remove(row);
  };
  for await (const { id, desired: d, held, mustLeave } of items) {
    if (held) counts.ledger += 1;
    if (d) counts.desired += 1;
    if (mode === 'replace') {
      if (d) await add(held ? { row: d.row, digest: d.digest, ...inputOf(d), reason: 'new' } : firstWrite(d));
    } else if (d && !held) {
      await add(firstWrite(d));
    } else if (d && held) {
      if (held.digest === d.digest) counts.unchanged += 1;
      else {
        counts.changed += 1;
        // Match keys: the old ones must go. Attributes (write-back): only what changed is sent.
        if (!d.row.attributes) {
          await remove({ row: ledgerRow(id, held), digest: held.digest, reason: 'changed' });
          await add({ row: d.row, digest: d.digest, ...inputOf(d), reason: 'changed' });
        } else {
          const sent = changedAttributes(d.row.attributes, held.attributes ?? {});
          await add({
            row: { ...d.row, attributes: sent },
            digest: d.digest,
            ...inputOf(d),
            reason: 'changed',
            recorded: d.row.attributes,
          });
        }
      }
    } else if (held) {
      await remove({
        row: ledgerRow(id, held),
        digest: held.digest,
        reason: mustLeave ? 'compliance' : 'left',
      });
    }
  }
  counts.after = counts.desired;
  return { mode, counts, batchSize, requests: requestsFor(counts, capabilities, batchSize) };
}

/**
 * A person the ledger holds nothing for. Write-back: a missing value has nothing to clear, so it
 * is not sent; the ledger still records the whole set (`recorded`).
 */
function firstWrite(d: DesiredRow): PlanRow {
  const row: PlanRow = { row: d.row, digest: d.digest, ...inputOf(d), reason: 'new' };
  const attributes = d.row.attributes;
  if (!attributes) return row;
  const sent = changedAttributes(attributes, {});
  if (Object.keys(sent).length === Object.keys(attributes).length) return row;
  return { ...row, row: { ...d.row, attributes: sent }, recorded: attributes };
}

/**
 * The attributes to send for a person whose write-back changed: values that differ from the ones
 * held (a missing value, `null`, only where a value was held: there is nothing to clear
 * otherwise), and `null` (cleared) for names held that are no longer written (a trait taken out of
 * the mapping).
 */
export function changedAttributes(
  desired: Record<string, AttributeValue>,
  held: Record<string, AttributeValue>,
): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(desired))
    if (name in held ? held[name] !== value : value !== null) out[name] = value;
  for (const name of Object.keys(held)) if (!(name in desired)) out[name] = null;
  return out;
}

function requestsFor(
  counts: Pick<PlanCounts, 'add' | 'remove'>,
  capabilities: Pick<Capabilities, 'addsAndRemovesShareRequest'>,
  batchSize: number,
): number {
  return capabilities.addsAndRemovesShareRequest
    ? Math.ceil((counts.add + counts.remove) / batchSize)
    : Math.ceil(counts.add / batchSize) + Math.ceil(counts.remove / batchSize);
}

/** Keeps the first rows of a plan for people to read (`audience-sync plan --rows`), and counts the rest. */
export class PlanPreview implements PlanSink {
  readonly adds: PlanRow[] = [];
  readonly removes: PlanRow[] = [];
  truncated = false;
  constructor(private readonly limit: number) {}
  add(row: PlanRow): void {
    this.keep(this.adds, row);
  }
  remove(row: PlanRow): void {
    this.keep(this.removes, row);
  }
  private keep(rows: PlanRow[], row: PlanRow): void {
    if (rows.length < this.limit) rows.push(row);
    else this.truncated = true;
  }
}

function ledgerRow(
  id: string,
  held: { keys?: SyncRow['keys']; attributes?: SyncRow['attributes'] },
): SyncRow {
  return { key: id, keys: held.keys ?? {}, ...(held.attributes ? { attributes: held.attributes } : {}) };
}

function inputOf(d: DesiredRow): { input?: string } {
  return d.input ? { input: d.input } : {};
}

/** The plan without identifiers: counts, and per person only the id, the change and the key types. */
export function planSummary(plan: PlanOutline, stats: DesiredStats, preview?: PlanPreview) {
  const types = (r: PlanRow) => Object.keys(r.row.keys).filter((k) => r.row.keys[k as IdentifierType]);
  const rows = (list: PlanRow[]) =>
    list.map((r) => ({ customer_id: r.row.key, reason: r.reason, identifier_types: types(r) }));
  return {
    mode: plan.mode,
    counts: plan.counts,
    requests: plan.requests,
    batch_size: plan.batchSize,
    members: stats,
    identifier_coverage: Object.fromEntries(
      Object.entries(stats.coverage).map(([type, n]) => [type, stats.desired ? n / stats.desired : 0]),
    ),
    ...(preview
      ? { adds: rows(preview.adds), removes: rows(preview.removes), rows_truncated: preview.truncated }
      : {}),
  };
}
