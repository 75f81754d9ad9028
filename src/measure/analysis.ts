import {
  type Estimate,
  type MdeResult,
  type Moments,
  minimumDetectableEffect,
  type NullableEstimate,
  newcombeDifference,
  relativeLift,
  twoProportionZTest,
  welchTTest,
  wilsonInterval,
} from './stats.js';

/**
 * From per-group counts to every number of the report. Pure: the report builder feeds it counts
 * read from the store, the simulation tests feed it seeded random draws.
 */

export interface GroupTotals {
  people: number;
  converters: number;
  /** Revenue per person (0 for people without a conversion): n must equal `people`. */
  revenue: Moments;
}

export interface GroupStats {
  people: number;
  converters: number;
  /** Converters / people, a fraction; null with nobody in the group. */
  rate: number | null;
  rate_ci_low: number | null;
  rate_ci_high: number | null;
  revenue: number;
  revenue_per_person: number | null;
}

export interface LiftStatistics {
  groups: { treatment: GroupStats; holdout: GroupStats };
  /** Treatment rate − holdout rate, with the Newcombe hybrid score interval. */
  absolute_lift: NullableEstimate;
  /** Treatment rate / holdout rate − 1, with the Katz log interval. */
  relative_lift: NullableEstimate;
  /** Two-sided pooled z-test of equal rates. */
  p_value: number | null;
  z: number | null;
  /** Welch's t on revenue per person, treatment − holdout. */
  revenue_per_person_difference:
    | (Estimate & { t: number | null; df: number | null; p_value: number | null })
    | null;
  /** Conversions the treatment group made beyond its holdout rate: absolute lift × treatment people. */
  incremental_conversions: NullableEstimate;
  /** Revenue beyond the holdout's per-person revenue: difference × treatment people. */
  incremental_revenue: NullableEstimate;
  /** Minimum detectable absolute difference in rates at these sizes (α = 0.05, power 0.8). */
  mde: number | null;
  mde_relative: number | null;
  mde_settings: Omit<MdeResult, 'absolute' | 'relative'> | null;
}

const CONFIDENCE_LEVEL = 0.95;

function groupStats(totals: GroupTotals): GroupStats {
  const { people, converters } = totals;
  if (totals.revenue.n !== people) {
    throw new Error(`revenue moments cover ${totals.revenue.n} people, the group has ${people}`);
  }
  const interval = people > 0 ? wilsonInterval(converters, people, CONFIDENCE_LEVEL) : null;
  return {
    people,
    converters,
    rate: people > 0 ? converters / people : null,
    rate_ci_low: interval?.low ?? null,
    rate_ci_high: interval?.high ?? null,
    revenue: totals.revenue.mean * people,
    revenue_per_person: people > 0 ? totals.revenue.mean : null,
  };
}

const NO_ESTIMATE: NullableEstimate = { estimate: null, ci_low: null, ci_high: null };

function scaled(e: NullableEstimate, factor: number): NullableEstimate {
  if (e.estimate === null || e.ci_low === null || e.ci_high === null) return NO_ESTIMATE;
  return { estimate: e.estimate * factor, ci_low: e.ci_low * factor, ci_high: e.ci_high * factor };
}

export function analyzeLift(treatment: GroupTotals, holdout: GroupTotals): LiftStatistics {
  const groups = { treatment: groupStats(treatment), holdout: groupStats(holdout) };
  const t = { successes: treatment.converters, trials: treatment.people };
  const h = { successes: holdout.converters, trials: holdout.people };
  const bothPresent = treatment.people > 0 && holdout.people > 0;

  const absolute = bothPresent ? newcombeDifference(t, h, CONFIDENCE_LEVEL) : NO_ESTIMATE;
  const test = bothPresent ? twoProportionZTest(t, h) : null;
  const welch = welchTTest(treatment.revenue, holdout.revenue, CONFIDENCE_LEVEL);
  const pooled = bothPresent ? (t.successes + h.successes) / (t.trials + h.trials) : 0;
  const mde = minimumDetectableEffect(
    { treatment: treatment.people, holdout: holdout.people },
    groups.holdout.rate ?? 0,
    { fallbackRate: pooled },
  );

  return {
    groups,
    absolute_lift: absolute,
    relative_lift: bothPresent ? relativeLift(t, h, CONFIDENCE_LEVEL) : NO_ESTIMATE,
    p_value: test?.p_value ?? null,
    z: test?.statistic ?? null,
    revenue_per_person_difference: welch
      ? {
          estimate: welch.estimate,
          ci_low: welch.ci_low,
          ci_high: welch.ci_high,
          t: welch.t,
          df: welch.df,
          p_value: welch.p_value,
        }
      : null,
    incremental_conversions: scaled(absolute, treatment.people),
    incremental_revenue: welch ? scaled(welch, treatment.people) : NO_ESTIMATE,
    mde: mde?.absolute ?? null,
    mde_relative: mde?.relative ?? null,
    mde_settings: mde ? { baseline_rate: mde.baseline_rate, alpha: mde.alpha, power: mde.power } : null,
  };
}
