/**
 * Selection arithmetic for `top_fraction` audiences (docs/audiences.md, "Score, cut and holdout").
 */

/** `top_fraction` is compared in parts per million so that 0.07 × 100 is 7, not 7.000000000000001 → 8. */
const PPM = 1_000_000n;

/**
 * `k = ceil(round(f × 10^6) × eligible / 10^6)` in integer arithmetic: how many of `eligible`
 * people a top fraction `f` keeps. A non-empty audience always keeps at least one person.
 */
export function topFractionCount(fraction: number, eligible: number): number {
  if (!Number.isInteger(eligible) || eligible < 0)
    throw new RangeError(`eligible must be a count, got ${eligible}`);
  if (!(fraction > 0 && fraction <= 1))
    throw new RangeError(`top_fraction must be in (0, 1], got ${fraction}`);
  const ppm = BigInt(Math.round(fraction * 1_000_000));
  const scaled = ppm * BigInt(eligible);
  return Number((scaled + PPM - 1n) / PPM);
}

/**
 * Ranking order: score descending, then `customer_id` ascending in JavaScript string order
 * (UTF-16 code units, what `<` does), so ties are broken the same way everywhere.
 */
export function compareRanked(aScore: number, aId: string, bScore: number, bId: string): number {
  if (aScore !== bScore) return aScore > bScore ? -1 : 1;
  return aId < bId ? -1 : aId > bId ? 1 : 0;
}
