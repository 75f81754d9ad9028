import { describe, expect, it } from 'vitest';
import { analyzeLift } from '../../src/measure/analysis.js';
import {
  minimumDetectableEffect,
  momentsOf,
  newcombeDifference,
  relativeLift,
  sampleRatioMismatch,
  twoProportionZTest,
  welchTTest,
  wilsonInterval,
} from '../../src/measure/stats.js';

describe('Wilson score interval', () => {
  // Newcombe (1998), "Two-sided confidence intervals for the single proportion", Stat Med 17:857, table I.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i/%i → [%f, %f]', (x, n, low, high) => {
    const ci = wilsonInterval(x, n);
    expect(ci.low).toBeCloseTo(low, 4);
    expect(ci.high).toBeCloseTo(high, 4);
  });

  it('stays inside [0, 1] and is exact at the extremes', () => {
    expect(wilsonInterval(29, 29).high).toBe(1);
    expect(wilsonInterval(0, 5).low).toBe(0);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
    expect(() => wilsonInterval(3, 2)).toThrow(/successes <= trials/);
  });
});

describe('Newcombe hybrid score interval for a difference of proportions', () => {
  // Newcombe (1998), "Interval estimation for the difference between independent proportions",
  // Stat Med 17:873, table II, method 10.
  it.each([
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
    [6, 7, 2, 7, 0.0582, 0.8062],
    [5, 56, 0, 29, -0.0381, 0.1926],
    [0, 10, 0, 20, -0.1611, 0.2775],
    [0, 10, 0, 10, -0.2775, 0.2775],
    [10, 10, 0, 20, 0.6791, 1],
    [10, 10, 0, 10, 0.6075, 1],
  ])('%i/%i − %i/%i → [%f, %f]', (xa, na, xb, nb, low, high) => {
    const d = newcombeDifference({ successes: xa, trials: na }, { successes: xb, trials: nb });
    expect(d.estimate).toBeCloseTo(xa / na - xb / nb, 12);
    expect(d.ci_low).toBeCloseTo(low, 4);
    expect(d.ci_high).toBeCloseTo(high, 4);
  });
});

describe('two-proportion z-test', () => {
  it('56/70 vs 48/80: hand-computed pooled z', () => {
    // pooled p = 104/150; se = sqrt(p(1-p)(1/70 + 1/80)) = 0.0754668; z = 0.2 / se = 2.65017
    const r = twoProportionZTest({ successes: 56, trials: 70 }, { successes: 48, trials: 80 });
    expect(r.statistic).toBeCloseTo(2.650172, 5);
    // z² is Pearson's chi-square without continuity correction (7.0234); p = 0.008045.
    expect(r.statistic ** 2).toBeCloseTo(7.02341, 4);
    expect(r.p_value).toBeCloseTo(0.008045, 6);
  });

  it('equal rates give p = 1, and degenerate tables no evidence', () => {
    expect(
      twoProportionZTest({ successes: 10, trials: 100 }, { successes: 5, trials: 50 }).p_value,
    ).toBeCloseTo(1, 12);
    expect(twoProportionZTest({ successes: 0, trials: 100 }, { successes: 0, trials: 50 }).p_value).toBe(1);
  });
});

describe('relative lift (Katz log interval)', () => {
  it('56/70 vs 48/80: RR = 4/3, se(ln RR) = √(1/56 − 1/70 + 1/48 − 1/80) = 0.109109', () => {
    const r = relativeLift({ successes: 56, trials: 70 }, { successes: 48, trials: 80 });
    const se = Math.sqrt(1 / 56 - 1 / 70 + 1 / 48 - 1 / 80);
    expect(se).toBeCloseTo(0.109109, 6);
    expect(r.estimate).toBeCloseTo(1 / 3, 12);
    expect(r.ci_low).toBeCloseTo((4 / 3) * Math.exp(-1.959964 * se) - 1, 5);
    expect(r.ci_low).toBeCloseTo(0.076626, 5);
    expect(r.ci_high).toBeCloseTo(0.651249, 5);
  });

  it('is undefined without holdout conversions and finite when only treatment has none', () => {
    expect(relativeLift({ successes: 5, trials: 50 }, { successes: 0, trials: 50 }).estimate).toBeNull();
    const r = relativeLift({ successes: 0, trials: 50 }, { successes: 5, trials: 50 });
    expect(r.estimate).toBe(-1);
    expect(Number.isFinite(r.ci_low!)).toBe(true);
    expect(r.ci_low!).toBeLessThan(-0.9);
    expect(r.ci_high!).toBeGreaterThan(-1);
  });
});

describe('Welch t-test', () => {
  // Student's sleep data (R: t.test(extra ~ group, data = sleep)):
  // t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832.
  const g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
  const g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

  it('matches the published sleep-data result', () => {
    const r = welchTTest(momentsOf(g1), momentsOf(g2))!;
    expect(r.estimate).toBeCloseTo(-1.58, 12);
    expect(r.t!).toBeCloseTo(-1.8608, 4);
    expect(r.df!).toBeCloseTo(17.776, 3);
    expect(r.p_value!).toBeCloseTo(0.07939, 5);
    expect(r.ci_low).toBeCloseTo(-3.3654832, 6);
    expect(r.ci_high).toBeCloseTo(0.2054832, 6);
  });

  it('handles unequal sizes and variances (hand-computed)', () => {
    // a: mean 3, var 2.5, n 5 → 0.5; b: mean 1, var 1, n 3 → 1/3; se = √(5/6); df = (5/6)² / (0.25/4 + (1/9)/2)
    const r = welchTTest(momentsOf([1, 2, 3, 4, 5]), momentsOf([0, 1, 2]))!;
    expect(r.t!).toBeCloseTo(2 / Math.sqrt(5 / 6), 12);
    expect(r.df!).toBeCloseTo((5 / 6) ** 2 / (0.25 / 4 + 1 / 9 / 2), 12);
  });

  it('needs two observations per group', () => {
    expect(welchTTest(momentsOf([1]), momentsOf([1, 2]))).toBeNull();
    const flat = welchTTest(momentsOf([2, 2]), momentsOf([1, 1]))!;
    expect(flat).toMatchObject({ estimate: 1, ci_low: 1, ci_high: 1, p_value: null });
  });
});

describe('minimum detectable effect', () => {
  it('(z.975 + z.8) · √(p(1−p)(1/n1 + 1/n2)) at p = 0.1, n = 1000 + 1000', () => {
    // 2.801585 × √(0.09 × 0.002) = 2.801585 × 0.0134164 = 0.0375872
    const m = minimumDetectableEffect({ treatment: 1000, holdout: 1000 }, 0.1)!;
    expect(m.absolute).toBeCloseTo(0.0375872, 6);
    expect(m.relative).toBeCloseTo(0.375872, 5);
    expect(m).toMatchObject({ alpha: 0.05, power: 0.8, baseline_rate: 0.1 });
  });

  it('shrinks with larger groups and falls back to the pooled rate when the baseline is 0', () => {
    const small = minimumDetectableEffect({ treatment: 900, holdout: 100 }, 0.1)!;
    const large = minimumDetectableEffect({ treatment: 9000, holdout: 1000 }, 0.1)!;
    expect(large.absolute).toBeCloseTo(small.absolute / Math.sqrt(10), 12);
    const zero = minimumDetectableEffect({ treatment: 900, holdout: 100 }, 0, { fallbackRate: 0.05 })!;
    expect(zero.absolute).toBeGreaterThan(0);
    expect(zero.relative).toBeNull();
    expect(minimumDetectableEffect({ treatment: 900, holdout: 0 }, 0.1)).toBeNull();
  });
});

describe('sample-ratio mismatch', () => {
  it('1100 holdout of 10000 at 10%: χ² = 100²/1000 + 100²/9000 = 11.11, p = 0.000858 → flagged', () => {
    const r = sampleRatioMismatch(1100, 10_000, 0.1);
    expect(r.chi_square).toBeCloseTo(11.1111, 4);
    expect(r.p_value!).toBeCloseTo(0.000858, 6);
    expect(r.flagged).toBe(true);
    expect(r.observed_share).toBeCloseTo(0.11, 12);
  });

  it('1050 of 10000: χ² = 2.78, p = 0.0956 → not flagged', () => {
    const r = sampleRatioMismatch(1050, 10_000, 0.1);
    expect(r.chi_square).toBeCloseTo(2.7778, 4);
    expect(r.p_value!).toBeCloseTo(0.09558, 4);
    expect(r.flagged).toBe(false);
  });

  it('is silent without people and rejects an impossible expected share', () => {
    expect(sampleRatioMismatch(0, 0, 0.1)).toMatchObject({ flagged: false, p_value: null });
    expect(() => sampleRatioMismatch(1, 2, 0)).toThrow(RangeError);
  });
});

describe('analyzeLift', () => {
  it('puts every statistic together and scales incremental conversions by treatment size', () => {
    const revenue = (people: number, converters: number, value: number) =>
      momentsOf(Array.from({ length: people }, (_, i) => (i < converters ? value : 0)));
    const r = analyzeLift(
      { people: 70, converters: 56, revenue: revenue(70, 56, 10) },
      { people: 80, converters: 48, revenue: revenue(80, 48, 10) },
    );
    expect(r.groups.treatment).toMatchObject({ people: 70, converters: 56, rate: 0.8 });
    expect(r.groups.treatment.revenue).toBeCloseTo(560, 9);
    expect(r.groups.holdout.revenue_per_person).toBeCloseTo(6, 12);
    expect(r.absolute_lift.ci_low).toBeCloseTo(0.0524, 4);
    expect(r.incremental_conversions.estimate).toBeCloseTo(0.2 * 70, 9);
    expect(r.incremental_conversions.ci_low).toBeCloseTo(r.absolute_lift.ci_low! * 70, 9);
    expect(r.revenue_per_person_difference!.estimate).toBeCloseTo(2, 12);
    expect(r.incremental_revenue.estimate).toBeCloseTo(140, 9);
    expect(r.p_value).toBeCloseTo(0.008045, 6);
    expect(r.mde).toBeGreaterThan(0);
  });

  it('reports nulls, not NaN, when a group is empty', () => {
    const r = analyzeLift(
      { people: 10, converters: 2, revenue: momentsOf(Array(10).fill(0)) },
      {
        people: 0,
        converters: 0,
        revenue: momentsOf([]),
      },
    );
    expect(r.absolute_lift.estimate).toBeNull();
    expect(r.p_value).toBeNull();
    expect(r.groups.holdout.rate).toBeNull();
    expect(JSON.stringify(r)).not.toMatch(/NaN|Infinity/);
  });
});
