import type { ObjectStore } from '../storage/object-store.js';
import { type LedgerEntry, ledgerEntries, writeLedger } from './ledger.js';
import type { SyncRunRecord } from './run-record.js';
import { SortedCursor, smallestId } from './sorted.js';
import { type Batch, planBatches } from './stored-plan.js';

/**
 * The ledger after a run's confirmed batches: removals leave it (unless the platform refused them),
 * accepted additions enter it with the keys as sent. It is a merge of three streams in
 * `customer_id` order — the old ledger, the confirmed removals and the confirmed additions, both
 * read back from the stored plan — written as it goes, so no side is held in memory. Applying
 * twice gives the same ledger, so a crash between the ledger write and the final report is harmless.
 *
 * A replace starts from an empty ledger: what the platform holds is exactly what was sent.
 */
export async function applyConfirmedBatches(store: ObjectStore, record: SyncRunRecord): Promise<number> {
  const confirmedAt = new Date().toISOString();
  const done = record.batches.length;

  async function* confirmed(ops: Batch['op'][]): AsyncGenerator<LedgerEntry> {
    for await (const batch of planBatches(store, record, { ops })) {
      if (batch.number >= done) return;
      const refused = new Set(record.batches[batch.number]!.rejected_ids);
      for (const r of batch.rows) {
        if (refused.has(r.row.key)) continue;
        yield {
          customer_id: r.row.key,
          digest: r.digest,
          ...(r.input ? { input: r.input } : {}),
          ...(Object.keys(r.row.keys).length ? { keys: r.row.keys } : {}),
          ...(r.row.attributes ? { attributes: r.row.attributes } : {}),
          confirmed_at: confirmedAt,
        };
      }
    }
  }

  const replace = record.mode === 'replace';
  const old = await SortedCursor.open(
    replace ? (async function* () {})() : ledgerEntries(store, record.destination, record.audience_id),
    (e: LedgerEntry) => e.customer_id,
    'the ledger',
  );
  const removed = await SortedCursor.open(confirmed(['remove']), (e) => e.customer_id, 'the stored removals');
  const added = await SortedCursor.open(
    confirmed(['add', 'replace']),
    (e) => e.customer_id,
    'the stored additions',
  );
  async function* merged(): AsyncGenerator<LedgerEntry> {
    try {
      for (
        let id = smallestId([old, removed, added]);
        id !== undefined;
        id = smallestId([old, removed, added])
      ) {
        const before = await old.take(id);
        const gone = await removed.take(id);
        const entry = await added.take(id);
        // A changed person is removed under the old keys and added under the new: the addition wins.
        if (entry) yield entry;
        else if (before && !gone) yield before;
      }
    } finally {
      await Promise.all([old.close(), removed.close(), added.close()]);
    }
  }
  return writeLedger(store, record.destination, record.audience_id, merged());
}
