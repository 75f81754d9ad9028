import {
  chiSquareSurvival,
  normalQuantile,
  normalTwoSided,
  studentTQuantile,
  studentTTwoSided,
} from './distributions.js';

/**
 * Pure statistics for holdout lift: intervals for proportions and their difference and ratio,
 * significance tests, Welch's t for revenue, minimum detectable effect and the sample-ratio check.
 * Every function takes counts (or moments) and returns plain numbers, so the report builder and
 * the simulation tests run the exact same code.
 */

export interface Interval {
  low: number;
  high: number;
}

export interface Estimate {
  estimate: number;
  ci_low: number;
  ci_high: number;
}

/** z for a two-sided interval at `level` (0.95 → 1.959963984540054). */
export function zFor(level: number): number {
  if (!(level > 0 && level < 1)) throw new RangeError(`confidence level must be in (0, 1), got ${level}`);
  return normalQuantile(1 - (1 - level) / 2);
}

function assertCounts(successes: number, trials: number): void {
  if (!Number.isInteger(successes) || !Number.isInteger(trials) || successes < 0 || successes > trials) {
    throw new RangeError(`need integers 0 <= successes <= trials, got ${successes} of ${trials}`);
  }
}

/**
 * Wilson score interval for one proportion. Unlike the Wald interval it stays inside [0, 1] and
 * keeps close to nominal coverage for small counts and rates near 0, which conversion rates are.
 * With no trials there is no information: [0, 1].
 */
export function wilsonInterval(successes: number, trials: number, level = 0.95): Interval {
  assertCounts(successes, trials);
  if (trials === 0) return { low: 0, high: 1 };
  const z = zFor(level);
  const p = successes / trials;
  const z2n = (z * z) / trials;
  const center = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / trials + z2n / (4 * trials));
  return {
    // The exact ends are 0 and 1 at the extremes; rounding must not push them past.
    low: successes === 0 ? 0 : Math.max(0, center - half),
    high: successes === trials ? 1 : Math.min(1, center + half),
  };
}

export interface Proportion {
  successes: number;
  trials: number;
}

function rate({ successes, trials }: Proportion): number {
  return trials === 0 ? 0 : successes / trials;
}

/**
 * Difference of two independent proportions a − b with Newcombe's hybrid score interval
 * (method 10 of Newcombe 1998): combines the two Wilson intervals, so it inherits their good
 * behaviour at low rates, where the Wald interval undercovers.
 */
export function newcombeDifference(a: Proportion, b: Proportion, level = 0.95): Estimate {
  const pa = rate(a);
  const pb = rate(b);
  const wa = wilsonInterval(a.successes, a.trials, level);
  const wb = wilsonInterval(b.successes, b.trials, level);
  const d = pa - pb;
  return {
    estimate: d,
    ci_low: d - Math.sqrt((pa - wa.low) ** 2 + (wb.high - pb) ** 2),
    ci_high: d + Math.sqrt((wa.high - pa) ** 2 + (pb - wb.low) ** 2),
  };
}

export interface NullableEstimate {
  estimate: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

/**
 * Relative lift a/b − 1 with the Katz log interval for the risk ratio:
 * ln(RR) ± z·√(1/xa − 1/na + 1/xb − 1/nb). Undefined (all null) when the holdout has no
 * conversions — a ratio to zero says nothing. When only the treatment has none, 0.5 is added to
 * every cell for the interval so it stays finite (the estimate itself is −100%).
 */
export function relativeLift(a: Proportion, b: Proportion, level = 0.95): NullableEstimate {
  if (a.trials === 0 || b.trials === 0 || b.successes === 0) {
    return { estimate: null, ci_low: null, ci_high: null };
  }
  const z = zFor(level);
  const estimate = rate(a) / rate(b) - 1;
  const corrected = a.successes === 0;
  const xa = a.successes + (corrected ? 0.5 : 0);
  const na = a.trials + (corrected ? 1 : 0);
  const xb = b.successes + (corrected ? 0.5 : 0);
  const nb = b.trials + (corrected ? 1 : 0);
  const logRatio = Math.log(xa / na / (xb / nb));
  const se = Math.sqrt(1 / xa - 1 / na + 1 / xb - 1 / nb);
  return {
    estimate,
    ci_low: Math.exp(logRatio - z * se) - 1,
    ci_high: Math.exp(logRatio + z * se) - 1,
  };
}

export interface TestResult {
  statistic: number;
  p_value: number;
}

/**
 * Two-sided pooled z-test for a difference of proportions (identical to Pearson's chi-square on
 * the 2×2 table without continuity correction: statistic² = chi-square). When both groups are all
 * zeros or all ones there is no variance and no evidence of a difference: p = 1.
 */
export function twoProportionZTest(a: Proportion, b: Proportion): TestResult {
  if (a.trials === 0 || b.trials === 0) return { statistic: 0, p_value: 1 };
  const pooled = (a.successes + b.successes) / (a.trials + b.trials);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials));
  if (se === 0) return { statistic: 0, p_value: 1 };
  const z = (rate(a) - rate(b)) / se;
  return { statistic: z, p_value: normalTwoSided(z) };
}

/** Count, mean and sum of squared deviations (Welford), so variance is stable for large sums. */
export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export function emptyMoments(): Moments {
  return { n: 0, mean: 0, m2: 0 };
}

export function addMoment(m: Moments, x: number): void {
  m.n += 1;
  const delta = x - m.mean;
  m.mean += delta / m.n;
  m.m2 += delta * (x - m.mean);
}

export function momentsOf(values: Iterable<number>): Moments {
  const m = emptyMoments();
  for (const v of values) addMoment(m, v);
  return m;
}

/** Sample variance (n − 1 denominator). */
function sampleVariance(m: Moments): number {
  return m.n < 2 ? 0 : m.m2 / (m.n - 1);
}

export interface WelchResult extends Estimate {
  t: number | null;
  df: number | null;
  p_value: number | null;
  standard_error: number;
}

/**
 * Welch's unequal-variance t for mean(a) − mean(b), with Welch–Satterthwaite degrees of freedom.
 * Revenue per person is mostly zeros with a long tail, and the groups differ tenfold in size, so
 * the pooled-variance t would be wrong. Needs two people per group; with zero variance in both the
 * difference is exact (interval of width 0, no test).
 */
export function welchTTest(a: Moments, b: Moments, level = 0.95): WelchResult | null {
  if (a.n < 2 || b.n < 2) return null;
  const va = sampleVariance(a) / a.n;
  const vb = sampleVariance(b) / b.n;
  const diff = a.mean - b.mean;
  const se = Math.sqrt(va + vb);
  if (se === 0) {
    return {
      estimate: diff,
      ci_low: diff,
      ci_high: diff,
      t: null,
      df: null,
      p_value: null,
      standard_error: 0,
    };
  }
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  const t = diff / se;
  const critical = studentTQuantile(1 - (1 - level) / 2, df);
  return {
    estimate: diff,
    ci_low: diff - critical * se,
    ci_high: diff + critical * se,
    t,
    df,
    p_value: studentTTwoSided(t, df),
    standard_error: se,
  };
}

export interface MdeResult {
  /** Smallest absolute rate difference detected with the given power (fraction: 0.01 = 1 point). */
  absolute: number;
  /** The same relative to the baseline rate; null when the baseline is 0. */
  relative: number | null;
  baseline_rate: number;
  alpha: number;
  power: number;
}

/**
 * Minimum detectable effect for a two-sided two-proportion test at the current group sizes:
 * (z₁₋α/₂ + z_power) · √(p(1−p)(1/nA + 1/nB)), with p the baseline (holdout) rate. When the baseline
 * is 0 or 1 the variance formula collapses, so the pooled rate stands in; null if that is also
 * degenerate or a group is empty.
 */
export function minimumDetectableEffect(
  sizes: { treatment: number; holdout: number },
  baselineRate: number,
  options: { alpha?: number; power?: number; fallbackRate?: number } = {},
): MdeResult | null {
  const alpha = options.alpha ?? 0.05;
  const power = options.power ?? 0.8;
  if (sizes.treatment === 0 || sizes.holdout === 0) return null;
  let p = baselineRate;
  if (p <= 0 || p >= 1) p = options.fallbackRate ?? p;
  if (p <= 0 || p >= 1) return null;
  const z = normalQuantile(1 - alpha / 2) + normalQuantile(power);
  const absolute = z * Math.sqrt(p * (1 - p) * (1 / sizes.treatment + 1 / sizes.holdout));
  return {
    absolute,
    relative: baselineRate > 0 ? absolute / baselineRate : null,
    baseline_rate: baselineRate,
    alpha,
    power,
  };
}

/** Below this p-value a sample-ratio mismatch is flagged: strict, because it is checked on every report. */
const SRM_ALPHA = 0.001;

export interface SrmResult {
  expected_share: number;
  observed_share: number | null;
  chi_square: number | null;
  p_value: number | null;
  flagged: boolean;
  people: number;
}

/**
 * Sample-ratio mismatch: chi-square goodness of fit (1 df) of the observed holdout count against
 * the configured holdout fraction. A flagged split means assignment or data collection is broken
 * and the lift numbers should not be trusted.
 */
export function sampleRatioMismatch(holdout: number, total: number, expectedShare: number): SrmResult {
  if (!(expectedShare > 0 && expectedShare < 1)) {
    throw new RangeError(`expected holdout share must be in (0, 1), got ${expectedShare}`);
  }
  if (total === 0) {
    return {
      expected_share: expectedShare,
      observed_share: null,
      chi_square: null,
      p_value: null,
      flagged: false,
      people: 0,
    };
  }
  const expectedHoldout = total * expectedShare;
  const expectedTreatment = total - expectedHoldout;
  const chi =
    (holdout - expectedHoldout) ** 2 / expectedHoldout +
    (total - holdout - expectedTreatment) ** 2 / expectedTreatment;
  const p = chiSquareSurvival(chi, 1);
  return {
    expected_share: expectedShare,
    observed_share: holdout / total,
    chi_square: chi,
    p_value: p,
    flagged: p < SRM_ALPHA,
    people: total,
  };
}
