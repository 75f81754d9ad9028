import { hash } from 'node:crypto';

/**
 * The documented holdout rule (docs/audiences.md, "Score, cut and holdout"), recomputed here so a report
 * can check the groups recorded in the snapshots against the configured salt and fraction without
 * depending on the audience engine's code.
 */
const TWO_POW_52 = 2 ** 52;

/** Uniform in [0, 1) from the first 52 bits of sha256(salt + ":" + customer_id). */
function holdoutUnit(salt: string, customerId: string): number {
  return Number.parseInt(hash('sha256', `${salt}:${customerId}`).slice(0, 13), 16) / TWO_POW_52;
}

export function expectedGroup(salt: string, fraction: number, customerId: string): 'treatment' | 'holdout' {
  return holdoutUnit(salt, customerId) < fraction ? 'holdout' : 'treatment';
}
