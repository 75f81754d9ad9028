import type { ObjectStore } from '../storage/object-store.js';
import { fingerprint96 } from './fingerprint.js';
import type { SnapshotPerson } from './merge.js';
import { readPeopleSnapshot } from './snapshot.js';

/**
 * Identity resolution: which snapshot person a record's `customer_id`, or failing that its email
 * or Customer.io `cio_id`, belongs to. Rules (applied in snapshot order, so any reader of the same
 * snapshot gets the same answers):
 * - a customer id is its own person's, unless it was aliased into another person (an anonymous
 *   id, an old user id): then it counts for that person, the first alias winning;
 * - when two people hold the same email or cio_id (possible in id-first workspaces), the first
 *   keeps it; emails are compared lowercased, like they are stored.
 *
 * The answers are person numbers, kept in three open-addressing tables of 96-bit fingerprints in
 * shared memory, so the build's scan threads resolve people themselves and send back numbers
 * instead of strings. A key absent from a table is certainly unknown; a key present could in
 * theory be another key with the same fingerprint (about 10⁻¹³ for a million people and a
 * million unknown ids).
 */

export interface PersonIndexData {
  customerIds: SharedArrayBuffer;
  emails: SharedArrayBuffer;
  cioIds: SharedArrayBuffer;
}

/** Not in the table. */
export const UNKNOWN = -1;

const SLOT = 4; // h1, h2, h3, person number + 1 (0: empty)
/** The fingerprint of the key being looked up. */
const H = new Int32Array(3);

class FingerprintTable {
  slots: Int32Array;
  private mask: number;
  private used = 0;

  constructor(public buffer: SharedArrayBuffer) {
    this.slots = new Int32Array(buffer);
    this.mask = this.slots.length / SLOT - 1;
  }

  static sized(keys: number): FingerprintTable {
    let capacity = 1024;
    while (capacity < keys * 2) capacity *= 2;
    return new FingerprintTable(new SharedArrayBuffer(capacity * SLOT * 4));
  }

  /** Sets the person of `key`, replacing an earlier one unless `onlyNew`. */
  set(key: string, person: number, onlyNew = false): void {
    const at = this.find(key);
    const s = this.slots;
    if (s[at + 3] !== 0) {
      if (!onlyNew) s[at + 3] = person + 1;
      return;
    }
    s[at] = H[0]!;
    s[at + 1] = H[1]!;
    s[at + 2] = H[2]!;
    s[at + 3] = person + 1;
    this.used += 1;
    if (this.used * 2 > this.mask + 1) this.grow();
  }

  get(key: string): number {
    const at = this.find(key);
    return this.slots[at + 3]! - 1;
  }

  /** The slot of `key`, or the empty slot where it would go; leaves its fingerprint in `H`. */
  private find(key: string): number {
    fingerprint96(key, H);
    return this.slotOf(H[0]!, H[1]!, H[2]!);
  }

  private slotOf(h1: number, h2: number, h3: number): number {
    const s = this.slots;
    let i = h1 & this.mask;
    for (;;) {
      const at = i * SLOT;
      if (s[at + 3] === 0) return at;
      if (s[at] === h1 && s[at + 1] === h2 && s[at + 2] === h3) return at;
      i = (i + 1) & this.mask;
    }
  }

  /** Only while building, before the buffer is shared. */
  private grow(): void {
    const old = this.slots;
    this.buffer = new SharedArrayBuffer(old.byteLength * 2);
    this.slots = new Int32Array(this.buffer);
    this.mask = this.slots.length / SLOT - 1;
    for (let at = 0; at < old.length; at += SLOT) {
      if (old[at + 3] === 0) continue;
      const to = this.slotOf(old[at]!, old[at + 1]!, old[at + 2]!);
      this.slots.set(old.subarray(at, at + SLOT), to);
    }
  }
}

export class PersonIndex {
  private constructor(
    readonly customerIds: FingerprintTable,
    readonly emails: FingerprintTable,
    readonly cioIds: FingerprintTable,
  ) {}

  /** An empty index, sized for about `people` people; fill it with `add`, then `finish`. */
  static builder(people: number): PersonIndexBuilder {
    return new PersonIndexBuilder(
      new PersonIndex(
        FingerprintTable.sized(people),
        FingerprintTable.sized(people),
        FingerprintTable.sized(people),
      ),
    );
  }

  static attach(data: PersonIndexData): PersonIndex {
    return new PersonIndex(
      new FingerprintTable(data.customerIds),
      new FingerprintTable(data.emails),
      new FingerprintTable(data.cioIds),
    );
  }

  get data(): PersonIndexData {
    return { customerIds: this.customerIds.buffer, emails: this.emails.buffer, cioIds: this.cioIds.buffer };
  }

  /** The person a `customer_id` counts for, or UNKNOWN (a person the snapshot does not have). */
  byCustomerId(customerId: string): number {
    return this.customerIds.get(customerId);
  }

  /**
   * The person of a record without `customer_id`: the owner of its email, else of its cio_id
   * UNKNOWN when neither resolves.
   */
  byContact(email: string | undefined, cioId: string | undefined): number {
    if (email) {
      const p = this.emails.get(email.toLowerCase());
      if (p !== UNKNOWN) return p;
    }
    return cioId ? this.cioIds.get(cioId) : UNKNOWN;
  }
}

/** Fills an index from snapshot people, in snapshot order (the rules above). */
export class PersonIndexBuilder {
  private readonly merged = new Map<string, number>();

  constructor(private readonly index: PersonIndex) {}

  add(person: Pick<SnapshotPerson, 'customer_id' | 'email' | 'cio_id' | 'merged_ids'>, p: number): void {
    this.index.customerIds.set(person.customer_id, p);
    for (const id of person.merged_ids ?? []) if (!this.merged.has(id)) this.merged.set(id, p);
    if (person.email) this.index.emails.set(person.email, p, true);
    if (person.cio_id) this.index.cioIds.set(person.cio_id, p, true);
  }

  finish(): PersonIndex {
    for (const [id, p] of this.merged) this.index.customerIds.set(id, p);
    return this.index;
  }
}

/**
 * The person index of the snapshot of `day` (which must exist: see `updatePeopleSnapshot`), with
 * person numbers in snapshot order, and the customer id of each number.
 */
export async function loadPersonIndex(
  store: ObjectStore,
  day: string,
): Promise<{ index: PersonIndex; customerIds: string[] }> {
  const customerIds: string[] = [];
  const builder = PersonIndex.builder(1024);
  for await (const person of readPeopleSnapshot(store, day)) {
    builder.add(person, customerIds.length);
    customerIds.push(person.customer_id);
  }
  return { index: builder.finish(), customerIds };
}
