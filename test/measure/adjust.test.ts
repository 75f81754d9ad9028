import { describe, expect, it } from 'vitest';
import {
  ALWAYS_VALID_MIXING_PEOPLE,
  adjustedLift,
  alwaysValidInterval,
  alwaysValidLift,
  CovariateError,
  type GroupSample,
  pooledOutcomeVariance,
  pooledRegression,
  proportionDifferenceVariance,
} from '../../src/measure/adjust.js';
import { newcombeDifference } from '../../src/measure/stats.js';
import { rng } from './fixtures.js';

const sample = (y: number[], x: number[][]): GroupSample => ({ y, x });
const one = (xs: number[]) => xs.map((v) => [v]);

describe('regression adjustment (CUPED / ANCOVA)', () => {
  it('reproduces the published ANCOVA of Snedecor & Cochran (1967, p. 422): leprosy bacilli before (x) and after (y) three drugs', () => {
    // The data set of SAS PROC GLM's ANCOVA example. Published: pooled slope 0.98718381, least
    // squares means a 6.7149635, d 6.8239348, f 10.1611017.
    const a = sample([6, 0, 2, 8, 11, 4, 13, 1, 8, 0], one([11, 8, 5, 14, 19, 6, 10, 6, 11, 3]));
    const d = sample([0, 2, 3, 1, 18, 4, 14, 9, 1, 9], one([6, 6, 7, 8, 18, 8, 19, 8, 5, 15]));
    const f = sample([13, 10, 18, 5, 23, 12, 5, 16, 1, 20], one([16, 13, 11, 9, 21, 16, 12, 12, 7, 12]));
    const fit = pooledRegression([a, d, f]);
    expect(fit.beta[0]).toBeCloseTo(0.98718381, 7);
    expect(fit.groups.map((g) => g.adjusted)).toEqual([
      expect.closeTo(6.7149635, 6),
      expect.closeTo(6.8239348, 6),
      expect.closeTo(10.1611017, 6),
    ]);
    // Two groups (drug a against placebo f): the adjusted difference is the OLS coefficient of the
    // group in y ~ group + x, i.e. the raw difference minus slope × covariate difference.
    const two = adjustedLift(a, f)!;
    const two_fit = pooledRegression([a, f]);
    expect(two.absolute_lift.estimate).toBeCloseTo(5.3 - 12.3 - two_fit.beta[0]! * (9.3 - 12.9), 12);
  });

  it('matches a hand-computed two-group example exactly (β = 11/31, lift = 29/124)', () => {
    // Treatment: x̄ 1.5, ȳ 0.75, Sxx 5, Sxy 1.5. Holdout: x̄ 0.75, ȳ 0.25, Sxx 2.75, Sxy 1.25.
    // β = (1.5 + 1.25) / (5 + 2.75) = 11/31; lift = 0.5 − 11/31 × 0.75 = 29/124.
    const t = sample([1, 0, 1, 1], one([2, 0, 1, 3]));
    const h = sample([0, 0, 1, 0], one([1, 0, 2, 0]));
    const fit = adjustedLift(t, h)!;
    expect(fit.coefficients[0]).toBeCloseTo(11 / 31, 14);
    expect(fit.absolute_lift.estimate).toBeCloseTo(29 / 124, 14);
    // Adjusted means sit at the overall covariate mean (9/8): m = ȳ − β (x̄_g − 9/8).
    expect(fit.adjusted_rates.treatment).toBeCloseTo(0.75 - (11 / 31) * (1.5 - 1.125), 14);
    expect(fit.adjusted_rates.holdout).toBeCloseTo(0.25 - (11 / 31) * (0.75 - 1.125), 14);
    // Variance: residual SS per group over n − 1 − p·n/N, plus σ̂² d² / Sxx for the slope.
    const rss = (ys: number[], xs: number[]) => {
      const my = ys.reduce((s, v) => s + v, 0) / ys.length;
      const mx = xs.reduce((s, v) => s + v, 0) / xs.length;
      return ys.reduce((s, y, i) => s + (y - my - (11 / 31) * (xs[i]! - mx)) ** 2, 0);
    };
    const rt = rss([1, 0, 1, 1], [2, 0, 1, 3]);
    const rh = rss([0, 0, 1, 0], [1, 0, 2, 0]);
    const variance = rt / 2.5 / 4 + rh / 2.5 / 4 + ((rt + rh) / 5) * (0.75 ** 2 / 7.75);
    expect(fit.standard_error).toBeCloseTo(Math.sqrt(variance), 14);
    const unadjusted = 0.75 / 3 / 4 + 0.75 / 3 / 4;
    expect(fit.variance_reduction).toBeCloseTo(1 - variance / unadjusted, 14);
  });

  it('refuses a covariate with (near) zero variance, or one that repeats another, naming it', () => {
    const y = [0, 1, 0, 1, 1, 0];
    const constant = () =>
      adjustedLift(sample(y, one([3, 3, 3, 3, 3, 3])), sample(y, one([3, 3, 3, 3, 3, 3])));
    expect(constant).toThrow(CovariateError);
    expect(constant).toThrow(/covariate 1 has \(near\) zero variance/);
    const tiny = [1e6, 1e6, 1e6, 1e6, 1e6, 1e6 + 1e-9];
    expect(() => adjustedLift(sample(y, one(tiny)), sample(y, one(tiny)))).toThrow(/zero variance/);
    const xs = [1, 4, 2, 8, 5, 7].map((v) => [v, 2 * v + 1]);
    try {
      adjustedLift(sample(y, xs), sample(y, xs));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CovariateError);
      expect((error as CovariateError).covariates).toEqual([1]);
    }
  });

  it('reports an adjustment that does not help as a negative variance reduction', () => {
    // Within each group x is exactly uncorrelated with y (Sxy = 0), so β = 0 and the residuals are
    // the raw deviations; the fitted coefficient still costs a degree of freedom: variance grows.
    const t = sample([1, 0, 1, 0], one([1, 1, 0, 0]));
    const h = sample([1, 0, 0, 1], one([3, 3, 2, 2]));
    const fit = adjustedLift(t, h)!;
    expect(fit.coefficients[0]).toBe(0);
    expect(fit.absolute_lift.estimate).toBe(0);
    // Var = 1/(4 − 1 − 0.5)/4 per group (rss 1, df 2.5) plus σ̂² d²/Sxx for estimating β, against
    // 1/3/4 per group unadjusted.
    const sigma2 = 2 / 5;
    const variance = 2 * (1 / 2.5 / 4) + sigma2 * (2 ** 2 / 2);
    expect(fit.standard_error).toBeCloseTo(Math.sqrt(variance), 14);
    expect(fit.variance_reduction).toBeCloseTo(1 - variance / (2 * (1 / 3 / 4)), 14);
    expect(fit.variance_reduction).toBeLessThan(0);
  });
});

describe('always-valid interval (normal-mixture confidence sequence)', () => {
  it('has the closed form √(V(V+τ²)/τ² · (2 ln(1/α) + ln((V+τ²)/V)))', () => {
    // V = τ² = 1, α = 0.05: √(2 · (2 ln 20 + ln 2)) = 3.656393…
    const i = alwaysValidInterval(0, 1, 1, 0.05);
    expect(i.ci_high).toBeCloseTo(Math.sqrt(2 * (2 * Math.log(20) + Math.log(2))), 12);
    expect(i.ci_high).toBeCloseTo(3.656393, 5);
    expect(i.ci_low).toBeCloseTo(-i.ci_high, 12);
    // Wider than the fixed-horizon 1.96 √V at every V, and shrinking as V shrinks.
    for (const v of [10, 1, 0.1, 1e-3, 1e-5]) {
      const half = alwaysValidInterval(0, v, 1e-3).ci_high;
      expect(half).toBeGreaterThan(1.959964 * Math.sqrt(v));
    }
    expect(alwaysValidInterval(0, 1e-5, 1e-3).ci_high).toBeLessThan(
      alwaysValidInterval(0, 1e-4, 1e-3).ci_high,
    );
    expect(alwaysValidLift(0.01, 1e-4, 0.25)).toEqual({
      estimate: 0.01,
      ...alwaysValidInterval(0.01, 1e-4, 0.25 / ALWAYS_VALID_MIXING_PEOPLE),
    });
  });
});

/**
 * Seeded simulated experiments at the statistics level, through the same functions the report
 * uses. Figures are printed so the test log carries them.
 */
describe('simulated experiments', () => {
  const RUNS = 100;

  it('the adjusted interval covers the true lift in ≥ 93/100 runs and is ≥ 20% narrower on average', () => {
    // A prior-checkout count x ∈ {0,1,2,3} (probabilities .5 .25 .15 .1) predicts conversion:
    // p = 0.01 + 0.3x in the holdout, plus a true absolute lift of 3 points in treatment.
    const lift = 0.03;
    let covered = 0;
    let coveredUnadjusted = 0;
    let reduction = 0;
    for (let run = 0; run < RUNS; run++) {
      const random = rng(7000 + run);
      const t = { y: [] as number[], x: [] as number[][] };
      const h = { y: [] as number[], x: [] as number[][] };
      for (let i = 0; i < 5000; i++) {
        const u = random();
        const x = u < 0.5 ? 0 : u < 0.75 ? 1 : u < 0.9 ? 2 : 3;
        const group = random() < 0.2 ? h : t;
        const p = 0.01 + 0.3 * x + (group === t ? lift : 0);
        group.y.push(random() < p ? 1 : 0);
        group.x.push([x]);
      }
      const fit = adjustedLift(t, h)!;
      if (fit.absolute_lift.ci_low <= lift && lift <= fit.absolute_lift.ci_high) covered += 1;
      const count = (g: { y: number[] }) => ({
        successes: g.y.reduce((s, v) => s + v, 0),
        trials: g.y.length,
      });
      const plain = newcombeDifference(count(t), count(h));
      if (plain.ci_low <= lift && lift <= plain.ci_high) coveredUnadjusted += 1;
      const width = fit.absolute_lift.ci_high - fit.absolute_lift.ci_low;
      reduction += 1 - width / (plain.ci_high - plain.ci_low);
      expect(fit.variance_reduction).toBeGreaterThan(0.3);
    }
    const meanReduction = reduction / RUNS;
    process.stdout.write(
      `CUPED simulation: adjusted covers ${covered}/${RUNS} (unadjusted ${coveredUnadjusted}/${RUNS}); ` +
        `mean width reduction ${(meanReduction * 100).toFixed(1)}%\n`,
    );
    expect(covered).toBeGreaterThanOrEqual(93);
    expect(meanReduction).toBeGreaterThanOrEqual(0.2);
  });

  it('read daily for 28 days with no true effect, the always-valid interval excludes zero in ≤ 5/100 runs', () => {
    let alwaysValid = 0;
    let fixedPeeking = 0;
    let fixedFinal = 0;
    for (let run = 0; run < RUNS; run++) {
      const random = rng(9000 + run);
      const t = { successes: 0, trials: 0 };
      const h = { successes: 0, trials: 0 };
      let avRejected = false;
      let fixedRejected = false;
      let last = newcombeDifference(t, t);
      for (let day = 0; day < 28; day++) {
        for (let i = 0; i < 300; i++) {
          const g = random() < 0.2 ? h : t;
          g.trials += 1;
          if (random() < 0.06) g.successes += 1;
        }
        const estimate = t.successes / t.trials - h.successes / h.trials;
        const av = alwaysValidLift(estimate, proportionDifferenceVariance(t, h), pooledOutcomeVariance(t, h));
        if (av.ci_low > 0 || av.ci_high < 0) avRejected = true;
        last = newcombeDifference(t, h);
        if (last.ci_low > 0 || last.ci_high < 0) fixedRejected = true;
      }
      if (avRejected) alwaysValid += 1;
      if (fixedRejected) fixedPeeking += 1;
      if (last.ci_low > 0 || last.ci_high < 0) fixedFinal += 1;
    }
    process.stdout.write(
      `Daily peeking over 28 days, no true effect: always-valid excluded zero in ${alwaysValid}/${RUNS} runs, ` +
        `the fixed-horizon interval on some day in ${fixedPeeking}/${RUNS} (on day 28 alone: ${fixedFinal}/${RUNS})\n`,
    );
    expect(alwaysValid).toBeLessThanOrEqual(5);
    // Peeking at the fixed-horizon interval is what the always-valid one protects against.
    expect(fixedPeeking).toBeGreaterThan(alwaysValid);
  });

  it('still detects a real lift: the always-valid interval excludes zero by day 28 in most runs', () => {
    let detected = 0;
    for (let run = 0; run < 50; run++) {
      const random = rng(11000 + run);
      const t = { successes: 0, trials: 0 };
      const h = { successes: 0, trials: 0 };
      for (let i = 0; i < 28 * 300; i++) {
        const g = random() < 0.2 ? h : t;
        g.trials += 1;
        if (random() < (g === t ? 0.09 : 0.06)) g.successes += 1;
      }
      const estimate = t.successes / t.trials - h.successes / h.trials;
      const av = alwaysValidLift(estimate, proportionDifferenceVariance(t, h), pooledOutcomeVariance(t, h));
      if (av.ci_low > 0) detected += 1;
    }
    expect(detected).toBeGreaterThanOrEqual(40);
  });
});
