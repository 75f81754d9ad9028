import type { SnapshotPerson } from '../people/merge.js';

/**
 * Person numbers by identity, in shared memory, so scan threads resolve the people of records
 * themselves and send back numbers instead of strings (interning millions of strings was the
 * coordinator's largest cost).
 *
 * Three open-addressing tables of 96-bit fingerprints: customer ids (a person's own id, or an
 * earlier id aliased into it), lowercased emails and Customer.io ids — the same answers as
 * `IdentityIndex` (people/identity.ts), built from the snapshot in the same order. A key absent from a table is certainly
 * unknown; a key present could in theory be another key with the same 96-bit fingerprint
 * (about 10⁻¹³ for a million people and a million unknown ids).
 */

export interface PersonIndexData {
  customerIds: SharedArrayBuffer;
  emails: SharedArrayBuffer;
  cioIds: SharedArrayBuffer;
}

/** Not in the table. */
export const UNKNOWN = -1;

const SLOT = 4; // h1, h2, h3, person number + 1 (0: empty)

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
    fingerprint96(key);
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
   * (`IdentityIndex.resolve`); UNKNOWN when neither resolves.
   */
  byContact(email: string | undefined, cioId: string | undefined): number {
    if (email) {
      const p = this.emails.get(email.toLowerCase());
      if (p !== UNKNOWN) return p;
    }
    return cioId ? this.cioIds.get(cioId) : UNKNOWN;
  }
}

/**
 * Fills an index from snapshot people in snapshot order, with `IdentityIndex.add`'s rules: the
 * first person holding an email or cio_id keeps it; an id aliased into a person counts for that
 * person (the first alias wins), even when it is also someone's own id.
 */
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

/** Three 32-bit hashes of `key` (murmur-style mixing) into `H`. */
const H = new Int32Array(3);
function fingerprint96(key: string): void {
  let a = 0x811c9dc5 ^ key.length;
  let b = 0x9747b28c;
  let c = 0x2545f491;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x01000193);
    b = Math.imul(b ^ ch, 0x5bd1e995);
    b ^= b >>> 13;
    c = Math.imul(c + ch, 0x9e3779b1);
    c ^= c >>> 15;
  }
  H[0] = avalanche(a, 0x85ebca6b, 0xc2b2ae35);
  H[1] = avalanche(b, 0x7feb352d, 0x846ca68b);
  H[2] = avalanche(c, 0x27d4eb2f, 0x165667b1);
}

function avalanche(h: number, m1: number, m2: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, m1);
  h ^= h >>> 13;
  h = Math.imul(h, m2);
  h ^= h >>> 16;
  return h | 0;
}
