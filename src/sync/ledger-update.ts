import type { ObjectStore } from '../storage/object-store.js';
import { type LedgerEntry, ledgerEntries, writeLedger } from './ledger.js';
import type { SyncRunRecord } from './run-record.js';
import { SortedCursor, smallestId } from './sorted.js';
import { type Batch, planBatches, type RequestGroup } from './stored-plan.js';

/**
 * The ledger after a run's confirmed batches: removals leave it (unless the platform refused them),
 * accepted additions enter it with the keys as sent. It is a merge of three streams in
 * `customer_id` order — the old ledger, the confirmed removals and the confirmed additions, both
 * read back from the stored plan — written as it goes, so no side is held in memory. Applying
 * twice gives the same ledger, so a crash between the ledger write and the final report is harmless.
 *
 * A replace starts from an empty ledger: what the platform holds is exactly what was sent.
 */
export async function applyConfirmedBatches(
  store: ObjectStore,
  record: SyncRunRecord,
  requestGroup?: RequestGroup,
): Promise<number> {
  const confirmedAt = new Date().toISOString();
  const done = record.batches.length;

  /** Confirmed rows of some operations (and of one request group): in customer_id order. */
  async function* confirmed(ops: Batch['op'][], group: string | undefined): AsyncGenerator<LedgerEntry> {
    const stream = planBatches(store, record, {
      ops,
      requestGroup,
      ...(group !== undefined ? { group } : {}),
    });
    for await (const batch of stream) {
      if (batch.number >= done) return;
      const refused = new Set(record.batches[batch.number]!.rejected_ids);
      for (const r of batch.rows) {
        if (refused.has(r.row.key)) continue;
        yield {
          customer_id: r.row.key,
          digest: r.digest,
          ...(r.input ? { input: r.input } : {}),
          ...(Object.keys(r.row.keys).length ? { keys: r.row.keys } : {}),
          // A write-back that sent only what changed records the whole set it leaves behind.
          ...(r.recorded
            ? { attributes: r.recorded }
            : r.row.attributes
              ? { attributes: r.row.attributes }
              : {}),
          confirmed_at: confirmedAt,
        };
      }
    }
  }
  /**
   * One sorted stream per request group: batches cut within groups interleave them, but each
   * group's rows stay in order. Without groups, one stream.
   */
  const streams = async (ops: Batch['op'][], what: string) => {
    const groups = record.plan.grouped
      ? [...new Set(record.batches.filter((b) => ops.includes(b.op)).map((b) => b.group ?? ''))]
      : [undefined];
    return Promise.all(
      groups.map((g) =>
        SortedCursor.open(confirmed(ops, g), (e) => e.customer_id, `${what}${g ? ` (${g})` : ''}`),
      ),
    );
  };

  const replace = record.mode === 'replace';
  const old = await SortedCursor.open(
    replace ? (async function* () {})() : ledgerEntries(store, record.destination, record.audience_id),
    (e: LedgerEntry) => e.customer_id,
    'the ledger',
  );
  const removed = await streams(['remove'], 'the confirmed removals');
  const added = await streams(['add', 'replace'], 'the confirmed additions');
  const all = [old, ...removed, ...added];
  async function* merged(): AsyncGenerator<LedgerEntry> {
    try {
      for (let id = smallestId(all); id !== undefined; id = smallestId(all)) {
        const before = await old.take(id);
        let gone = false;
        for (const c of removed) if ((await c.take(id)) !== undefined) gone = true;
        let entry: LedgerEntry | undefined;
        for (const c of added) entry = (await c.take(id)) ?? entry;
        // A changed person is removed under the old keys and added under the new: the addition wins.
        if (entry) yield entry;
        else if (before && !gone) yield before;
      }
    } finally {
      await Promise.all(all.map((c) => c.close()));
    }
  }
  return writeLedger(store, record.destination, record.audience_id, merged());
}
