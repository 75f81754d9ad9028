import type { Capabilities, IdentifierType, SyncRow } from '../../connectors/core/types.js';
import type { DesiredRow, DesiredStats } from './desired.js';
import type { Ledger } from './ledger.js';

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
}

export interface SyncPlan {
  mode: 'diff' | 'replace';
  adds: PlanRow[];
  removes: PlanRow[];
  counts: {
    desired: number;
    ledger: number;
    add: number;
    remove: number;
    changed: number;
    unchanged: number;
    /** Size after the plan is applied. */
    after: number;
  };
  batchSize: number;
  /** Upload requests the plan needs: ceil(changes / batch size), per request kind. */
  requests: number;
}

export function computePlan(
  desired: ReadonlyMap<string, DesiredRow>,
  ledger: Ledger,
  capabilities: Pick<Capabilities, 'addsAndRemovesShareRequest'>,
  batchSize: number,
  mode: 'diff' | 'replace' = 'diff',
  compliance: ReadonlySet<string> = new Set(),
): SyncPlan {
  const adds: PlanRow[] = [];
  const removes: PlanRow[] = [];
  let changed = 0;
  let unchanged = 0;
  if (mode === 'replace') {
    for (const d of desired.values())
      adds.push({ row: d.row, digest: d.digest, ...inputOf(d), reason: 'new' });
  } else {
    for (const [id, d] of desired) {
      const held = ledger.get(id);
      if (!held) adds.push({ row: d.row, digest: d.digest, ...inputOf(d), reason: 'new' });
      else if (held.digest !== d.digest) {
        changed += 1;
        // Match keys: the old ones must go. Attributes (write-back): the new values overwrite.
        if (!d.row.attributes)
          removes.push({ row: ledgerRow(id, held), digest: held.digest, reason: 'changed' });
        adds.push({ row: d.row, digest: d.digest, ...inputOf(d), reason: 'changed' });
      } else unchanged += 1;
    }
    for (const [id, held] of ledger) {
      if (!desired.has(id)) {
        removes.push({
          row: ledgerRow(id, held),
          digest: held.digest,
          reason: compliance.has(id) ? 'compliance' : 'left',
        });
      }
    }
  }
  // Stable order: batches are reproducible, so a resumed run cuts the same batches.
  adds.sort(byKey);
  removes.sort(byKey);
  const requests = capabilities.addsAndRemovesShareRequest
    ? Math.ceil((adds.length + removes.length) / batchSize)
    : Math.ceil(adds.length / batchSize) + Math.ceil(removes.length / batchSize);
  return {
    mode,
    adds,
    removes,
    counts: {
      desired: desired.size,
      ledger: ledger.size,
      add: adds.length,
      remove: removes.length,
      changed,
      unchanged,
      after: desired.size,
    },
    batchSize,
    requests,
  };
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

function byKey(a: PlanRow, b: PlanRow): number {
  return a.row.key < b.row.key ? -1 : a.row.key > b.row.key ? 1 : 0;
}

/** The plan without identifiers: counts, and per person only the id, the change and the key types. */
export function planSummary(plan: SyncPlan, stats: DesiredStats, options: { withRows?: boolean } = {}) {
  const types = (r: PlanRow) => Object.keys(r.row.keys).filter((k) => r.row.keys[k as IdentifierType]);
  return {
    mode: plan.mode,
    counts: plan.counts,
    requests: plan.requests,
    batch_size: plan.batchSize,
    members: stats,
    identifier_coverage: Object.fromEntries(
      Object.entries(stats.coverage).map(([type, n]) => [type, stats.desired ? n / stats.desired : 0]),
    ),
    ...(options.withRows
      ? {
          adds: plan.adds.map((r) => ({
            customer_id: r.row.key,
            reason: r.reason,
            identifier_types: types(r),
          })),
          removes: plan.removes.map((r) => ({
            customer_id: r.row.key,
            reason: r.reason,
            identifier_types: types(r),
          })),
        }
      : {}),
  };
}
