import { hash } from 'node:crypto';

/**
 * The holdout assignment (docs/audiences.md, "Score, cut and holdout"):
 * `u = parseInt(sha256hex(salt + ":" + customer_id).slice(0, 13), 16) / 2^52`, holdout iff `u < fraction`.
 *
 * 13 hex digits are 52 bits, so the integer is exact in a double and `u` is uniform in [0, 1).
 * The assignment depends only on the salt and the person: it is sticky across days and runs, and
 * audiences that share a salt share one control group.
 */
const TWO_POW_52 = 2 ** 52;

export function holdoutU(salt: string, customerId: string): number {
  return Number.parseInt(hash('sha256', `${salt}:${customerId}`).slice(0, 13), 16) / TWO_POW_52;
}

export function isHoldout(salt: string, customerId: string, fraction: number): boolean {
  // fraction 0 (no holdout) must not pay for a hash per member.
  if (!(fraction > 0)) return false;
  return holdoutU(salt, customerId) < fraction;
}
