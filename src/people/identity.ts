import type { ObjectStore } from '../storage/object-store.js';
import type { SnapshotPerson } from './merge.js';
import { readPeopleSnapshot } from './snapshot.js';

/**
 * Resolution of records that carry only an email or a Customer.io `cio_id` to the person key
 * (`customer_id`), through the identity snapshot of the same day.
 *
 * When two people hold the same email (possible in id-first workspaces), the first in snapshot
 * order (smallest `customer_id`) keeps it and the collision is counted: a deterministic choice
 * that any reader of the same snapshot can reproduce.
 */
export class IdentityIndex {
  readonly byEmail = new Map<string, string>();
  readonly byCioId = new Map<string, string>();
  /** Earlier identities folded into a person by `alias` (anonymous ids, old user ids). */
  readonly byMergedId = new Map<string, string>();
  ambiguousEmails = 0;
  ambiguousCioIds = 0;

  add(person: Pick<SnapshotPerson, 'customer_id' | 'email' | 'cio_id' | 'merged_ids'>): void {
    for (const id of person.merged_ids ?? [])
      if (!this.byMergedId.has(id)) this.byMergedId.set(id, person.customer_id);
    if (person.email) {
      if (this.byEmail.has(person.email)) this.ambiguousEmails += 1;
      else this.byEmail.set(person.email, person.customer_id);
    }
    if (person.cio_id) {
      if (this.byCioId.has(person.cio_id)) this.ambiguousCioIds += 1;
      else this.byCioId.set(person.cio_id, person.customer_id);
    }
  }

  /**
   * The person key of a record: its own `customer_id` (or the person it was aliased into), else the owner of its email, else of its
   * `cio_id`; undefined when none resolves. Emails are compared lowercased, like they are stored.
   */
  resolve(record: {
    customer_id?: string | undefined;
    email?: string | undefined;
    cio_id?: string | undefined;
  }): string | undefined {
    if (record.customer_id) return this.byMergedId.get(record.customer_id) ?? record.customer_id;
    if (record.email) {
      const id = this.byEmail.get(record.email.toLowerCase());
      if (id !== undefined) return id;
    }
    if (record.cio_id) return this.byCioId.get(record.cio_id);
    return undefined;
  }
}

/** The identity index of the snapshot of `day` (which must exist: see `updatePeopleSnapshot`). */
export async function loadIdentityIndex(store: ObjectStore, day: string): Promise<IdentityIndex> {
  const index = new IdentityIndex();
  for await (const person of readPeopleSnapshot(store, day)) index.add(person);
  return index;
}
