import { type NullableEstimate, zFor } from './stats.js';

/**
 * Covariate adjustment and always-valid intervals for the lift (issue 22). Pure functions over
 * per-person values, so the report and the simulation tests run the same code.
 *
 * Regression adjustment (ANCOVA; CUPED of Deng et al. 2013 when there is one covariate): the
 * outcome y is regressed on the pre-entry covariates x with one pooled coefficient vector β
 * estimated within groups (each group centred at its own means, which is the OLS fit of
 * y ~ group + x). Each group's mean is moved to the overall covariate mean:
 * m_g = ȳ_g − β·(x̄_g − x̄), and the adjusted lift is m_t − m_h. Chance imbalance in x between the
 * groups no longer moves the estimate, and the residual variance is what x cannot explain.
 */

export interface GroupSample {
  /** Outcome per person (1/0 for a conversion). */
  y: readonly number[];
  /** Covariate vectors per person (same length as y, each of the same dimension). */
  x: readonly (readonly number[])[];
}

export interface PooledRegression {
  /** Pooled within-group coefficients, one per covariate. */
  beta: number[];
  /** Covariate means over all people. */
  overall: number[];
  /** Per group: n, raw mean of y, covariate means, adjusted mean, residual sum of squares. */
  groups: Array<{ n: number; mean: number; xMean: number[]; adjusted: number; rss: number; yss: number }>;
  /** (Σ within-group cross products of x)⁻¹, for the coefficient's variance. */
  inverse: number[][];
}

/** Raised when the covariates cannot be used: names which one(s) and why. */
export class CovariateError extends Error {
  override readonly name = 'CovariateError';
  constructor(
    message: string,
    /** Indexes of the covariates at fault. */
    readonly covariates: number[],
  ) {
    super(message);
  }
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return values.length === 0 ? 0 : s / values.length;
}

/**
 * Inverse of a symmetric positive definite matrix by Gauss–Jordan elimination with partial
 * pivoting. A pivot below `tolerance` × the largest diagonal entry means a covariate is (nearly) a
 * combination of the others: its index is reported.
 */
function invertSymmetric(a: readonly (readonly number[])[], tolerance = 1e-10): number[][] {
  const p = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: p }, (_, j) => (i === j ? 1 : 0))]);
  const scale = Math.max(...a.map((row, i) => Math.abs(row[i]!)), 0);
  for (let c = 0; c < p; c++) {
    let pivot = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    if (!(Math.abs(m[pivot]![c]!) > tolerance * scale) || scale === 0) {
      throw new CovariateError(`covariate ${c + 1} is (nearly) a linear combination of the others`, [c]);
    }
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    const row = m[c]!;
    const d = row[c]!;
    for (let k = 0; k < 2 * p; k++) row[k]! /= d;
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f === 0) continue;
      for (let k = 0; k < 2 * p; k++) m[r]![k]! -= f * row[k]!;
    }
  }
  return m.map((row) => row.slice(p));
}

/** Below this share of its mean square a covariate's spread counts as none (constant column). */
const MIN_RELATIVE_VARIANCE = 1e-12;

/**
 * The pooled within-group regression of y on x over any number of groups (two for lift; the
 * published ANCOVA checks use three). Throws a CovariateError naming a covariate with (near) zero
 * variance, or one that is a combination of the others.
 */
export function pooledRegression(groups: readonly GroupSample[]): PooledRegression {
  const p = groups.find((g) => g.x.length > 0)?.x[0]?.length ?? 0;
  const sxx = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  const sxy = new Array<number>(p).fill(0);
  const total = new Array<number>(p).fill(0);
  let people = 0;
  const stats = groups.map((g) => {
    if (g.x.length !== g.y.length) throw new RangeError('every person needs one covariate vector');
    const xMean = Array.from({ length: p }, (_, j) => mean(g.x.map((v) => v[j]!)));
    const yMean = mean(g.y);
    for (let i = 0; i < g.y.length; i++) {
      const xi = g.x[i]!;
      const dy = g.y[i]! - yMean;
      for (let j = 0; j < p; j++) {
        const dj = xi[j]! - xMean[j]!;
        sxy[j]! += dj * dy;
        for (let k = 0; k <= j; k++) sxx[j]![k]! += dj * (xi[k]! - xMean[k]!);
      }
    }
    for (let j = 0; j < p; j++) total[j]! += xMean[j]! * g.y.length;
    people += g.y.length;
    return { xMean, yMean };
  });
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) sxx[k]![j] = sxx[j]![k]!;
  const overall = total.map((t) => (people === 0 ? 0 : t / people));
  for (let j = 0; j < p; j++) {
    // Variance within groups against the covariate's own size: a constant (or almost) is useless.
    const spread = sxx[j]![j]! / Math.max(1, people);
    if (!(spread > MIN_RELATIVE_VARIANCE * (overall[j]! ** 2 + spread))) {
      throw new CovariateError(`covariate ${j + 1} has (near) zero variance`, [j]);
    }
  }
  const inverse = invertSymmetric(sxx);
  const beta = inverse.map((row) => row.reduce((s, v, k) => s + v * sxy[k]!, 0));
  const out = groups.map((g, gi) => {
    const { xMean, yMean } = stats[gi]!;
    let rss = 0;
    let yss = 0;
    for (let i = 0; i < g.y.length; i++) {
      let fit = 0;
      for (let j = 0; j < p; j++) fit += beta[j]! * (g.x[i]![j]! - xMean[j]!);
      const dy = g.y[i]! - yMean;
      rss += (dy - fit) ** 2;
      yss += dy * dy;
    }
    const shift = beta.reduce((s, b, j) => s + b * (xMean[j]! - overall[j]!), 0);
    return { n: g.y.length, mean: yMean, xMean, adjusted: yMean - shift, rss, yss };
  });
  return { beta, overall, groups: out, inverse };
}

export interface AdjustedLift {
  absolute_lift: { estimate: number; ci_low: number; ci_high: number };
  relative_lift: NullableEstimate;
  /**
   * Share of the variance of the unadjusted difference that the covariates removed:
   * 1 − Var(adjusted) / Var(unadjusted). Negative when the adjustment made it worse.
   */
  variance_reduction: number;
  /** Standard errors of the two differences (unadjusted: √(s²_t/n_t + s²_h/n_h)). */
  standard_error: number;
  unadjusted_standard_error: number;
  coefficients: number[];
  /** Adjusted group means (conversion rates moved to the overall covariate mean). */
  adjusted_rates: { treatment: number; holdout: number };
}

/**
 * Regression-adjusted difference of means treatment − holdout with a normal 95% interval. Its
 * variance is s²_t/n_t + s²_h/n_h over each group's residuals (unequal variances allowed, as in
 * Welch's t) plus the part from estimating β: σ̂²·dᵀ S⁻¹ d with d = x̄_t − x̄_h. Residual variances
 * divide by n_g − 1 − p·n_g/N, spreading the p fitted coefficients' degrees of freedom over the groups.
 * Null with fewer than p + 2 people in a group.
 */
export function adjustedLift(
  treatment: GroupSample,
  holdout: GroupSample,
  level = 0.95,
): AdjustedLift | null {
  const p = treatment.x[0]?.length ?? holdout.x[0]?.length ?? 0;
  if (p === 0 || treatment.y.length < p + 2 || holdout.y.length < p + 2) return null;
  const fit = pooledRegression([treatment, holdout]);
  const [t, h] = fit.groups as [PooledRegression['groups'][0], PooledRegression['groups'][0]];
  const n = t.n + h.n;
  const df = (g: { n: number }) => g.n - 1 - (p * g.n) / n;
  const vt = t.rss / df(t) / t.n;
  const vh = h.rss / df(h) / h.n;
  const sigma2 = (t.rss + h.rss) / (n - 2 - p);
  const d = t.xMean.map((x, j) => x - h.xMean[j]!);
  let quad = 0;
  for (let j = 0; j < p; j++) for (let k = 0; k < p; k++) quad += d[j]! * fit.inverse[j]![k]! * d[k]!;
  const variance = vt + vh + sigma2 * quad;
  const unadjusted = t.yss / (t.n - 1) / t.n + h.yss / (h.n - 1) / h.n;
  const z = zFor(level);
  const se = Math.sqrt(variance);
  const estimate = t.adjusted - h.adjusted;
  let relative: NullableEstimate = { estimate: null, ci_low: null, ci_high: null };
  if (t.adjusted > 0 && h.adjusted > 0) {
    // Delta method on log(m_t / m_h), each adjusted mean with its residual variance.
    const logRatio = Math.log(t.adjusted / h.adjusted);
    const seLog = Math.sqrt(vt / t.adjusted ** 2 + vh / h.adjusted ** 2);
    relative = {
      estimate: t.adjusted / h.adjusted - 1,
      ci_low: Math.exp(logRatio - z * seLog) - 1,
      ci_high: Math.exp(logRatio + z * seLog) - 1,
    };
  }
  return {
    absolute_lift: { estimate, ci_low: estimate - z * se, ci_high: estimate + z * se },
    relative_lift: relative,
    variance_reduction: unadjusted > 0 ? 1 - variance / unadjusted : 0,
    standard_error: se,
    unadjusted_standard_error: Math.sqrt(unadjusted),
    coefficients: fit.beta,
    adjusted_rates: { treatment: t.adjusted, holdout: h.adjusted },
  };
}

/**
 * Effective people at which the always-valid boundary is tightest: the mixing variance is
 * τ² = σ² / ALWAYS_VALID_MIXING_PEOPLE, with σ² the variance of one person's outcome, so the prior
 * over effects is about as wide as the effect such a cohort can see.
 */
export const ALWAYS_VALID_MIXING_PEOPLE = 1000;

/**
 * Two-sided normal-mixture confidence sequence (the mixture SPRT of Robbins 1970, as used by
 * Johari et al. 2017 and Howard et al. 2021). For an estimate θ̂ with variance V, the likelihood
 * ratio of "effect θ" mixed over θ ~ N(θ₀, τ²) against θ₀ is
 *   Λ = √(V / (V + τ²)) · exp(τ² (θ̂ − θ₀)² / (2 V (V + τ²))),
 * a nonnegative martingale under θ₀, so by Ville's inequality it exceeds 1/α at ANY look with
 * probability at most α. The θ₀ it does not reject form the interval
 *   θ̂ ± √( V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²) / V)) ),
 * valid simultaneously over every day it is read. It is wider than the fixed-horizon interval; the
 * width grows only like √(V log(1/V)) as V shrinks.
 */
export function alwaysValidInterval(
  estimate: number,
  variance: number,
  mixingVariance: number,
  alpha = 0.05,
): { ci_low: number; ci_high: number } {
  if (!(variance > 0) || !(mixingVariance > 0)) return { ci_low: estimate, ci_high: estimate };
  const v = variance;
  const t2 = mixingVariance;
  const half = Math.sqrt(((v * (v + t2)) / t2) * (2 * Math.log(1 / alpha) + Math.log((v + t2) / v)));
  return { ci_low: estimate - half, ci_high: estimate + half };
}

/**
 * Variance of a difference of two proportions for the always-valid interval, with one success and
 * one failure added to each group (Agresti & Caffo 2000): the first days of a cohort often have no
 * conversion in the small holdout, where the plain p(1 − p)/n is 0 and would claim certainty.
 */
export function proportionDifferenceVariance(
  a: { successes: number; trials: number },
  b: { successes: number; trials: number },
): number {
  const part = (g: { successes: number; trials: number }) => {
    const p = (g.successes + 1) / (g.trials + 2);
    return (p * (1 - p)) / (g.trials + 2);
  };
  return part(a) + part(b);
}

/** One person's outcome variance, pooled over both groups (the scale of the mixing variance). */
export function pooledOutcomeVariance(
  a: { successes: number; trials: number },
  b: { successes: number; trials: number },
): number {
  const p = (a.successes + b.successes + 1) / (a.trials + b.trials + 2);
  return p * (1 - p);
}

export interface AlwaysValidLift {
  estimate: number;
  ci_low: number;
  ci_high: number;
}

/**
 * The always-valid 95% interval of an absolute lift: the normal-mixture confidence sequence with
 * mixing variance τ² = σ² / ALWAYS_VALID_MIXING_PEOPLE (σ² one person's outcome variance).
 */
export function alwaysValidLift(
  estimate: number,
  variance: number,
  outcomeVariance: number,
  alpha = 0.05,
): AlwaysValidLift {
  return {
    estimate,
    ...alwaysValidInterval(estimate, variance, outcomeVariance / ALWAYS_VALID_MIXING_PEOPLE, alpha),
  };
}
