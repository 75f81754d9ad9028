import { describe, expect, it } from 'vitest';
import { analyzeLift, type GroupTotals } from '../../src/measure/analysis.js';
import { addMoment, emptyMoments } from '../../src/measure/stats.js';
import { rng } from './fixtures.js';

/**
 * Seeded simulations of whole experiments, in memory, through the same `analyzeLift` the report
 * uses: the 95% intervals must cover a known true lift (at least 93 of 100 runs), and with no true
 * lift the test must not cry wolf (p < 0.05 in at most 8 of 100 runs).
 */

interface Truth {
  people: number;
  holdoutFraction: number;
  holdoutRate: number;
  lift: number;
  /** Order values are uniform in [minValue, maxValue]. */
  minValue: number;
  maxValue: number;
}

function simulate(seed: number, t: Truth): { treatment: GroupTotals; holdout: GroupTotals } {
  const random = rng(seed);
  const groups = {
    treatment: { people: 0, converters: 0, revenue: emptyMoments() },
    holdout: { people: 0, converters: 0, revenue: emptyMoments() },
  };
  for (let i = 0; i < t.people; i++) {
    const group = random() < t.holdoutFraction ? groups.holdout : groups.treatment;
    const rate = group === groups.holdout ? t.holdoutRate : t.holdoutRate + t.lift;
    group.people += 1;
    let value = 0;
    if (random() < rate) {
      group.converters += 1;
      value = t.minValue + random() * (t.maxValue - t.minValue);
    }
    addMoment(group.revenue, value);
  }
  return groups;
}

const RUNS = 100;
const SEEDS = Array.from({ length: RUNS }, (_, i) => 1000 + i);

describe('lift statistics on simulated experiments', () => {
  it('95% intervals cover a known lift in at least 93 of 100 seeded runs', () => {
    const truth: Truth = {
      people: 20_000,
      holdoutFraction: 0.1,
      holdoutRate: 0.08,
      lift: 0.02,
      minValue: 20,
      maxValue: 180,
    };
    const meanValue = (truth.minValue + truth.maxValue) / 2;
    let absolute = 0;
    let relative = 0;
    let revenue = 0;
    for (const seed of SEEDS) {
      const { treatment, holdout } = simulate(seed, truth);
      const r = analyzeLift(treatment, holdout);
      if (r.absolute_lift.ci_low! <= truth.lift && truth.lift <= r.absolute_lift.ci_high!) absolute += 1;
      const trueRelative = (truth.holdoutRate + truth.lift) / truth.holdoutRate - 1;
      if (r.relative_lift.ci_low! <= trueRelative && trueRelative <= r.relative_lift.ci_high!) relative += 1;
      const trueRevenue = truth.lift * meanValue;
      const rpp = r.revenue_per_person_difference!;
      if (rpp.ci_low <= trueRevenue && trueRevenue <= rpp.ci_high) revenue += 1;
    }
    expect(absolute).toBeGreaterThanOrEqual(93);
    expect(relative).toBeGreaterThanOrEqual(93);
    expect(revenue).toBeGreaterThanOrEqual(93);
  });

  it('with zero true lift, p < 0.05 in at most 8 of 100 seeded runs', () => {
    const truth: Truth = {
      people: 20_000,
      holdoutFraction: 0.1,
      holdoutRate: 0.08,
      lift: 0,
      minValue: 20,
      maxValue: 180,
    };
    let rateFalsePositives = 0;
    let revenueFalsePositives = 0;
    for (const seed of SEEDS) {
      const { treatment, holdout } = simulate(seed, truth);
      const r = analyzeLift(treatment, holdout);
      if (r.p_value! < 0.05) rateFalsePositives += 1;
      if (r.revenue_per_person_difference!.p_value! < 0.05) revenueFalsePositives += 1;
    }
    expect(rateFalsePositives).toBeLessThanOrEqual(8);
    expect(revenueFalsePositives).toBeLessThanOrEqual(8);
  });

  it('detects a lift at the MDE most of the time (power close to 0.8)', () => {
    // At the planned sizes a true lift equal to the MDE is significant in about 80% of runs.
    const base = { people: 20_000, holdoutFraction: 0.1, holdoutRate: 0.08, minValue: 1, maxValue: 1 };
    const probe = simulate(1, { ...base, lift: 0 });
    const lift = analyzeLift(probe.treatment, probe.holdout).mde!;
    let detected = 0;
    for (const seed of SEEDS) {
      const { treatment, holdout } = simulate(seed, { ...base, lift });
      if (analyzeLift(treatment, holdout).p_value! < 0.05) detected += 1;
    }
    expect(detected).toBeGreaterThanOrEqual(65);
    expect(detected).toBeLessThanOrEqual(95);
  });
});
