import { createConnectorContext } from '../../connectors/core/context.js';
import { customerioConnector } from '../../connectors/customerio/index.js';
import type { MemberRecord, PersonRecord } from '../../src/contract/records.js';
import { createLogger } from '../../src/log.js';
import { compareIds } from '../../src/people/snapshot.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import type { FakeCustomerio } from '../fakes/customerio.js';

/**
 * Writes what the build stage would leave for a day: the identity snapshot and one audience's
 * members. The sync engine reads exactly these objects.
 */
export async function writeDay(
  store: ObjectStore,
  day: string,
  audienceId: string,
  persons: PersonRecord[],
  members: Pick<MemberRecord, 'customer_id' | 'group'>[],
): Promise<void> {
  // The snapshot's contract: customer_id in code point order (the sync merges on it).
  const sorted = [...persons].sort((a, b) => compareIds(a.customer_id, b.customer_id));
  await writeJsonl(store, keys.peopleSnapshot(day), sorted);
  await writeJsonl(
    store,
    keys.members(audienceId, day),
    members.map((m, i) => ({ ...m, score: 0, rank: i + 1, entered: day })),
  );
}

export function personFor(i: number, extra: Partial<PersonRecord> = {}): PersonRecord {
  return {
    customer_id: `c${String(i).padStart(5, '0')}`,
    email: `shopper${i}@example.com`,
    phone: `+1415555${String(i % 10_000).padStart(4, '0')}`,
    country: 'US',
    ts: '2026-11-27T10:00:00.000Z',
    ...extra,
  };
}

/** Everyone in the treatment group: the common case of the sync tests. */
export function treatment(
  persons: readonly Pick<PersonRecord, 'customer_id'>[],
): Pick<MemberRecord, 'customer_id' | 'group'>[] {
  return persons.map((p) => ({ customer_id: p.customer_id, group: 'treatment' }));
}

/** A Customer.io connector context pointed at a fake Track API (destination `cio`, no waiting). */
export function fakeCioContext(fake: FakeCustomerio) {
  return createConnectorContext(customerioConnector, {
    destination: 'cio',
    config: { type: 'customerio', site_id: fake.state.siteId, api_key: fake.state.apiKey },
    env: { CIO_TRACK_URL: fake.url },
    log: createLogger({ level: 'silent' }),
    sleep: async () => {},
  });
}
