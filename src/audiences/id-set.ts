import { fingerprint96 } from '../people/fingerprint.js';

/**
 * A set of record ids for de-duplication that costs 16 bytes per id instead of a JS string in a
 * `Set` (~60+ bytes). Ids are reduced to 64-bit fingerprints; with tens of millions of ids the
 * chance that two different ids collide is about 10⁻⁵ per run — and a collision only drops one record.
 *
 * Next to each fingerprint it keeps the earliest `received_at` seen, so a duplicate that was
 * received *before* the copy already counted (DESIGN: first by `received_at` wins) is detected.
 */

export const INSERTED = 0;
/** A duplicate; the copy already counted wins. */
export const DUPLICATE = 1;
/** A duplicate received earlier than the copy already counted: the counted one was the wrong one. */
export const EARLIER_DUPLICATE = 2;

export type InsertResult = typeof INSERTED | typeof DUPLICATE | typeof EARLIER_DUPLICATE;

const FP = new Int32Array(3);

/**
 * The 64-bit fingerprint of a record id IdSet keys on, into `out[0]`, `out[1]`; `out[1]` is never
 * 0, which marks empty slots.
 */
export function fingerprint(id: string, out: Int32Array): void {
  fingerprint96(id, FP);
  out[0] = FP[0]!;
  out[1] = FP[1]! | 1;
}

export class IdSet {
  /**
   * One 16-byte slot per id, so a probe touches one cache line: Int32 view [4i] = h1, [4i + 1] = h2
   * (0: empty); Float64 view [2i + 1] = earliest `received_at`.
   */
  private ints: Int32Array;
  private floats: Float64Array;
  private mask: number;
  private count = 0;
  private readonly fp = new Int32Array(2);

  constructor(initialCapacity = 1 << 16) {
    let cap = 16;
    while (cap < initialCapacity) cap *= 2;
    const buffer = new ArrayBuffer(cap * 16);
    this.ints = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  insert(id: string, receivedAtMs: number): InsertResult {
    fingerprint(id, this.fp);
    return this.insertFingerprint(this.fp[0]!, this.fp[1]!, receivedAtMs);
  }

  /** `insert` for an id already reduced by `fingerprint` (scan threads send fingerprints, not ids). */
  insertFingerprint(h1: number, h2: number, receivedAtMs: number): InsertResult {
    const ints = this.ints;
    let i = h1 & this.mask;
    for (;;) {
      const lo = ints[4 * i + 1]!;
      if (lo === 0) break;
      if (lo === h2 && ints[4 * i] === h1) {
        if (receivedAtMs < this.floats[2 * i + 1]!) {
          this.floats[2 * i + 1] = receivedAtMs;
          return EARLIER_DUPLICATE;
        }
        return DUPLICATE;
      }
      i = (i + 1) & this.mask;
    }
    ints[4 * i] = h1;
    ints[4 * i + 1] = h2;
    this.floats[2 * i + 1] = receivedAtMs;
    this.count += 1;
    if (this.count * 10 > (this.mask + 1) * 7) this.grow();
    return INSERTED;
  }

  private grow(): void {
    const { ints, floats } = this;
    const cap = (this.mask + 1) * 2;
    const buffer = new ArrayBuffer(cap * 16);
    this.ints = new Int32Array(buffer);
    this.floats = new Float64Array(buffer);
    this.mask = cap - 1;
    for (let j = 0; j < ints.length / 4; j++) {
      const lo = ints[4 * j + 1]!;
      if (lo === 0) continue;
      let i = ints[4 * j]! & this.mask;
      while (this.ints[4 * i + 1] !== 0) i = (i + 1) & this.mask;
      this.ints[4 * i] = ints[4 * j]!;
      this.ints[4 * i + 1] = lo;
      this.floats[2 * i + 1] = floats[2 * j + 1]!;
    }
  }
}
