import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/**
 * A day of raw data as the export writes it: the people, and one `checkout_started` at their `ts`
 * for each of `checkouts` (everyone, unless the caller names fewer).
 */
export async function writeCheckoutDay(
  store: ObjectStore,
  day: string,
  people: readonly { customer_id: string; ts: string; [field: string]: string }[],
  checkouts: readonly { customer_id: string; ts: string }[] = people,
): Promise<void> {
  await writeJsonl(store, keys.rawPart('people', day, '1-0', '1-1'), people);
  await writeJsonl(
    store,
    keys.rawPart('events', day, '1-0', '1-1'),
    checkouts.map((p, i) => ({
      id: `ev-${day}-${i}`,
      customer_id: p.customer_id,
      name: 'checkout_started',
      raw_name: 'checkout_started',
      ts: p.ts,
      properties: {},
      received_at: p.ts,
      source: 'test',
    })),
  );
}
