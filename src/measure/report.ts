import type { Covariate } from '../audiences/config.js';
import { addDays, isDay } from '../contract/days.js';
import { snakeCaseEventName } from '../contract/event-name.js';
import { assertSegment, keys, partitionDay } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists, writeJson } from '../storage/object-store.js';
import {
  ALWAYS_VALID_MIXING_PEOPLE,
  type AlwaysValidLift,
  adjustedLift,
  alwaysValidLift,
  CovariateError,
  type GroupSample,
  pooledOutcomeVariance,
  proportionDifferenceVariance,
} from './adjust.js';
import { analyzeLift, type GroupTotals, type LiftStatistics } from './analysis.js';
import {
  type CohortMember,
  type HoldoutSetting,
  listSnapshotDays,
  readCohort,
  readHoldoutSettings,
} from './cohort.js';
import { type ContaminationResult, checkContamination } from './contamination.js';
import { covariateLabel, readCovariates } from './covariates.js';
import { count, percent, points, pValue, signedCount, signedPercent } from './format.js';
import { renderLiftHtml } from './html.js';
import { isMature, maturesOn, type OutcomeStats, readOutcomes } from './outcomes.js';
import {
  addMoment,
  emptyMoments,
  type NullableEstimate,
  newcombeDifference,
  type SrmResult,
  sampleRatioMismatch,
} from './stats.js';

/**
 * The lift report for one audience: read the cohort from the member snapshots, outcomes from the
 * raw events, run the statistics and the integrity checks, and write
 * `reports/lift/<audience>/dt=<asOf>/report.json` and `report.html`.
 */

export const DEFAULT_MEASURE_EVENT = 'order_completed';
export const DEFAULT_WINDOW_DAYS = 14;

/** Bad parameters (exit code 2 in the CLI) or missing data (exit code 1). */
export class LiftError extends Error {
  override readonly name = 'LiftError';
  constructor(
    message: string,
    readonly kind: 'input' | 'no_data',
  ) {
    super(message);
  }
}

export interface MeasureLiftOptions {
  store: ObjectStore;
  audienceId: string;
  /** First entry day of the cohort; default: the first snapshot day. */
  from?: string | undefined;
  /** Last entry day of the cohort; default: `asOf`. */
  to?: string | undefined;
  /** Data up to the end of this UTC day counts; the report is filed under it. */
  asOf: string;
  windowDays: number;
  /** Outcome event name (normalized to snake_case like ingest does). */
  event: string;
  holdoutFraction: number;
  salt: string;
  /** `measure.covariates`: pre-entry terms for the regression-adjusted (CUPED) estimate. */
  covariates?: readonly Covariate[] | undefined;
  /** Write report.json and report.html to the store (default true). */
  write?: boolean;
  now?: () => Date;
}

export interface EntryDayCounts {
  entered: string;
  treatment: { people: number; converters: number };
  holdout: { people: number; converters: number };
  /** Lift of everyone who entered up to this day (cumulative), with its interval. */
  cumulative_absolute_lift: NullableEstimate;
  /**
   * The always-valid 95% interval of the same cumulative lift (adjusted when the report's
   * headline uses the adjusted estimate): the band stays valid however many days are looked at.
   */
  cumulative_always_valid: { ci_low: number; ci_high: number } | null;
}

/** The regression-adjusted (CUPED) lift: `measure.covariates` taken into account. */
export interface AdjustedSummary {
  /** Covariate labels, in configuration order. */
  covariates: string[];
  absolute_lift: { estimate: number; ci_low: number; ci_high: number };
  relative_lift: NullableEstimate;
  /** 1 − Var(adjusted difference) / Var(unadjusted difference); negative when it got worse. */
  variance_reduction: number;
  /** Whether the adjustment made the estimate more precise (else the headline does not use it). */
  reduces_variance: boolean;
  /** Pooled within-group regression coefficients, one per covariate. */
  coefficients: number[];
  /** Conversion rates moved to the overall covariate means. */
  adjusted_rates: { treatment: number; holdout: number };
}

export interface AlwaysValidSummary {
  /** Which estimate the sequence is built on: the one the headline uses. */
  based_on: 'adjusted' | 'unadjusted';
  absolute_lift: AlwaysValidLift;
  /** True once the interval excludes zero: until then, "no decision yet". */
  excludes_zero: boolean;
  /** Mixing variance τ² = σ² / mixing_people (σ² one person's outcome variance). */
  mixing_people: number;
}

export interface PendingSummary {
  /** People whose outcome window has not ended by `as_of`: shown, never counted. */
  people: number;
  treatment: number;
  holdout: number;
  by_entry_day: Array<{ entered: string; treatment: number; holdout: number; matures_on: string }>;
}

export interface SaltCheck {
  configured: string;
  fraction: number;
  /** Distinct salts / fractions the snapshot manifests of the period say they used. */
  manifest_salts: string[];
  manifest_fractions: number[];
  assignment_mismatches: number;
  group_changes: number;
  changed: boolean;
  note: string | null;
}

export interface LiftReport extends LiftStatistics {
  audience: string;
  period: { from: string; to: string };
  as_of: string;
  window_days: number;
  event: string;
  generated_at: string;
  /** One plain-language paragraph: what was found and how sure we are. */
  headline: string;
  /** Warnings a reader must see before trusting the numbers (integrity checks that fired). */
  warnings: string[];
  significant: boolean | null;
  /** Regression-adjusted lift; null without `measure.covariates` (or matured people). */
  adjusted: AdjustedSummary | null;
  /** Which absolute lift the headline reads. */
  headline_estimate: 'adjusted' | 'unadjusted';
  /** Always-valid (confidence-sequence) 95% interval of the absolute lift; null before both groups matured. */
  always_valid: AlwaysValidSummary | null;
  srm: SrmResult;
  contamination: ContaminationResult;
  salt: SaltCheck;
  pending: PendingSummary;
  by_entry_day: EntryDayCounts[];
  outcomes: OutcomeStats;
  cohort: {
    snapshots_read: number;
    first_snapshot: string | null;
    last_snapshot: string | null;
    re_entries: number;
    invalid_lines: number;
  };
}

export interface MeasureLiftResult {
  report: LiftReport;
  keys: { json: string; html: string } | null;
}

function validate(options: MeasureLiftOptions): void {
  assertAudience(options.audienceId);
  for (const [name, value] of [
    ['as-of', options.asOf],
    ['from', options.from],
    ['to', options.to],
  ] as const) {
    if (value !== undefined && !isDay(value)) {
      throw new LiftError(`${name} must be a day as YYYY-MM-DD, got ${JSON.stringify(value)}`, 'input');
    }
  }
  if (!Number.isInteger(options.windowDays) || options.windowDays < 1 || options.windowDays > 365) {
    throw new LiftError(
      `window days must be a whole number from 1 to 365, got ${options.windowDays}`,
      'input',
    );
  }
  if (!(options.holdoutFraction > 0 && options.holdoutFraction < 1)) {
    throw new LiftError(
      `holdout fraction must be between 0 and 1 (exclusive), got ${options.holdoutFraction}: lift needs a holdout`,
      'input',
    );
  }
  if (options.salt.length === 0) throw new LiftError('holdout salt must not be empty', 'input');
  if (snakeCaseEventName(options.event).length === 0) {
    throw new LiftError(`measure event ${JSON.stringify(options.event)} is not a usable event name`, 'input');
  }
}

function assertAudience(id: string): void {
  try {
    assertSegment('audience id', id);
  } catch (error) {
    throw new LiftError((error as Error).message, 'input');
  }
}

export async function measureLift(options: MeasureLiftOptions): Promise<MeasureLiftResult> {
  validate(options);
  const { store, audienceId, asOf, windowDays, holdoutFraction, salt } = options;
  const event = snakeCaseEventName(options.event);

  const snapshotDays = await listSnapshotDays(store, audienceId);
  const firstSnapshot = snapshotDays[0];
  if (firstSnapshot === undefined) {
    throw new LiftError(
      `no member snapshots for audience ${audienceId} under ${keys.audiencePrefix(audienceId)}: build it first`,
      'no_data',
    );
  }
  const from = options.from ?? firstSnapshot;
  const to = options.to ?? asOf;
  if (from > to) throw new LiftError(`from (${from}) is after to (${to})`, 'input');
  if (to > asOf) {
    throw new LiftError(
      `to (${to}) is after as-of (${asOf}): entries after the as-of day are not known`,
      'input',
    );
  }

  const cohort = await readCohort(store, { audienceId, from, to, snapshotDays, salt, holdoutFraction });
  const mature = new Map<string, CohortMember>();
  const holdoutIds = new Set<string>();
  for (const [id, member] of cohort.members) {
    if (member.group === 'holdout') holdoutIds.add(id);
    if (isMature(member.entered, windowDays, asOf)) mature.set(id, member);
  }

  const outcomes = await readOutcomes(store, { event, windowDays, members: mature, asOf });
  const totals = { treatment: emptyTotals(), holdout: emptyTotals() };
  for (const member of mature.values()) {
    const t = totals[member.group];
    t.people += 1;
    if (member.converted) t.converters += 1;
    addMoment(t.revenue, member.revenue);
  }
  const statistics = analyzeLift(totals.treatment, totals.holdout);
  const covariates = options.covariates ?? [];
  const values =
    covariates.length > 0 && mature.size > 0 ? await readCovariates(store, covariates, mature) : undefined;
  const adjusted = values ? adjust(mature, values, covariates) : null;
  const headlineEstimate: 'adjusted' | 'unadjusted' = adjusted?.reduces_variance ? 'adjusted' : 'unadjusted';
  const byEntryDay = entryDays(mature, headlineEstimate === 'adjusted' ? values : undefined);
  const lastDay = byEntryDay.at(-1);
  const alwaysValid: AlwaysValidSummary | null =
    lastDay?.cumulative_always_valid && statistics.absolute_lift.estimate !== null
      ? {
          based_on: headlineEstimate,
          absolute_lift: {
            estimate:
              adjusted && headlineEstimate === 'adjusted'
                ? adjusted.absolute_lift.estimate
                : statistics.absolute_lift.estimate,
            ...lastDay.cumulative_always_valid,
          },
          excludes_zero:
            lastDay.cumulative_always_valid.ci_low > 0 || lastDay.cumulative_always_valid.ci_high < 0,
          mixing_people: ALWAYS_VALID_MIXING_PEOPLE,
        }
      : null;
  const srm = sampleRatioMismatch(
    totals.holdout.people,
    totals.holdout.people + totals.treatment.people,
    holdoutFraction,
  );
  const contamination = await checkContamination(store, audienceId, holdoutIds);
  const settings = await readHoldoutSettings(store, audienceId, cohort.snapshot_days);
  const saltCheck = checkSalt(salt, holdoutFraction, settings, cohort.integrity);

  const base = {
    audience: audienceId,
    period: { from, to },
    as_of: asOf,
    window_days: windowDays,
    event,
    generated_at: (options.now?.() ?? new Date()).toISOString(),
    ...statistics,
    significant: statistics.p_value === null ? null : statistics.p_value < 0.05,
    adjusted,
    headline_estimate: headlineEstimate,
    always_valid: alwaysValid,
    srm,
    contamination,
    salt: saltCheck,
    pending: pendingSummary(cohort.members, windowDays, asOf),
    by_entry_day: byEntryDay,
    outcomes,
    cohort: {
      snapshots_read: cohort.snapshot_days.length,
      first_snapshot: cohort.snapshot_days[0] ?? null,
      last_snapshot: cohort.snapshot_days.at(-1) ?? null,
      re_entries: cohort.integrity.re_entries,
      invalid_lines: cohort.integrity.invalid_lines,
    },
  };
  const warnings = warningsFor(base);
  const report: LiftReport = { ...base, headline: headline(base), warnings };

  if (options.write === false) return { report, keys: null };
  const jsonKey = keys.liftReport(audienceId, asOf, 'json');
  const htmlKey = keys.liftReport(audienceId, asOf, 'html');
  await writeJson(store, jsonKey, report);
  await store.put(htmlKey, renderLiftHtml(report), { contentType: 'text/html; charset=utf-8' });
  return { report, keys: { json: jsonKey, html: htmlKey } };
}

function emptyTotals(): GroupTotals {
  return { people: 0, converters: 0, revenue: emptyMoments() };
}

function pendingSummary(
  members: Map<string, CohortMember>,
  windowDays: number,
  asOf: string,
): PendingSummary {
  const byDay = new Map<string, { treatment: number; holdout: number }>();
  let treatment = 0;
  let holdout = 0;
  for (const m of members.values()) {
    if (isMature(m.entered, windowDays, asOf)) continue;
    const day = byDay.get(m.entered) ?? { treatment: 0, holdout: 0 };
    day[m.group] += 1;
    byDay.set(m.entered, day);
    if (m.group === 'treatment') treatment += 1;
    else holdout += 1;
  }
  return {
    people: treatment + holdout,
    treatment,
    holdout,
    by_entry_day: [...byDay.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([entered, c]) => ({ entered, ...c, matures_on: maturesOn(entered, windowDays) })),
  };
}

/**
 * The regression-adjusted lift over the matured cohort. A covariate that cannot be used ((near)
 * zero variance, or a combination of the others) is refused, naming it.
 */
function adjust(
  mature: Map<string, CohortMember>,
  values: Map<string, number[]>,
  covariates: readonly Covariate[],
): AdjustedSummary | null {
  const { treatment, holdout } = samples([...mature.entries()], values);
  let fit: ReturnType<typeof adjustedLift>;
  try {
    fit = adjustedLift(treatment, holdout);
  } catch (error) {
    if (!(error instanceof CovariateError)) throw error;
    const named = error.covariates
      .map((i) => `measure.covariates[${i}] (${covariateLabel(covariates[i]!)})`)
      .join(', ');
    const why = error.message.replace(/^covariate \d+ /, '');
    throw new LiftError(
      `covariate ${named} ${why} in this cohort, so it cannot adjust the lift: remove it or pick one that varies between people`,
      'input',
    );
  }
  if (!fit) return null;
  return {
    covariates: covariates.map(covariateLabel),
    absolute_lift: fit.absolute_lift,
    relative_lift: fit.relative_lift,
    variance_reduction: fit.variance_reduction,
    reduces_variance: fit.variance_reduction > 0,
    coefficients: fit.coefficients,
    adjusted_rates: fit.adjusted_rates,
  };
}

function samples(
  members: Array<[string, CohortMember]>,
  values: Map<string, number[]>,
): { treatment: GroupSample; holdout: GroupSample } {
  const out = {
    treatment: { y: [] as number[], x: [] as number[][] },
    holdout: { y: [] as number[], x: [] as number[][] },
  };
  for (const [id, m] of members) {
    const x = values.get(id);
    if (!x) throw new Error(`no covariate values for cohort member ${id}`);
    out[m.group].y.push(m.converted ? 1 : 0);
    out[m.group].x.push(x);
  }
  return out;
}

/**
 * Per entry day counts and the cumulative lift, which shows whether the estimate has settled, with
 * the always-valid interval of each cumulative lift (adjusted when `values` are given; a day whose
 * cumulative cohort is too small to adjust falls back to the unadjusted variance).
 */
function entryDays(mature: Map<string, CohortMember>, values?: Map<string, number[]>): EntryDayCounts[] {
  const byDay = new Map<string, EntryDayCounts>();
  for (const m of mature.values()) {
    let day = byDay.get(m.entered);
    if (!day) {
      day = {
        entered: m.entered,
        treatment: { people: 0, converters: 0 },
        holdout: { people: 0, converters: 0 },
        cumulative_absolute_lift: { estimate: null, ci_low: null, ci_high: null },
        cumulative_always_valid: null,
      };
      byDay.set(m.entered, day);
    }
    day[m.group].people += 1;
    if (m.converted) day[m.group].converters += 1;
  }
  const days = [...byDay.values()].sort((a, b) => (a.entered < b.entered ? -1 : 1));
  const sum = { t: { successes: 0, trials: 0 }, h: { successes: 0, trials: 0 } };
  const ordered = [...mature.entries()].sort(([, a], [, b]) => (a.entered < b.entered ? -1 : 1));
  let upTo = 0;
  for (const day of days) {
    sum.t.trials += day.treatment.people;
    sum.t.successes += day.treatment.converters;
    sum.h.trials += day.holdout.people;
    sum.h.successes += day.holdout.converters;
    while (upTo < ordered.length && ordered[upTo]![1].entered <= day.entered) upTo += 1;
    if (sum.t.trials === 0 || sum.h.trials === 0) continue;
    const lift = newcombeDifference(sum.t, sum.h);
    day.cumulative_absolute_lift = lift;
    let estimate = lift.estimate;
    let variance = proportionDifferenceVariance(sum.t, sum.h);
    if (values) {
      const { treatment, holdout } = samples(ordered.slice(0, upTo), values);
      try {
        const fit = adjustedLift(treatment, holdout);
        if (fit) {
          estimate = fit.absolute_lift.estimate;
          variance = fit.standard_error ** 2;
        }
      } catch (error) {
        if (!(error instanceof CovariateError)) throw error;
      }
    }
    const av = alwaysValidLift(estimate, variance, pooledOutcomeVariance(sum.t, sum.h));
    day.cumulative_always_valid = { ci_low: av.ci_low, ci_high: av.ci_high };
  }
  return days;
}

function checkSalt(
  configured: string,
  fraction: number,
  settings: HoldoutSetting[],
  integrity: { assignment_mismatches: number; group_changes: number },
): SaltCheck {
  const salts = [...new Set(settings.flatMap((s) => (s.salt === null ? [] : [s.salt])))].sort();
  const fractions = [...new Set(settings.flatMap((s) => (s.fraction === null ? [] : [s.fraction])))].sort(
    (a, b) => a - b,
  );
  const saltMoved = salts.length > 1 || (salts.length === 1 && salts[0] !== configured);
  const fractionMoved = fractions.length > 1 || (fractions.length === 1 && fractions[0] !== fraction);
  const changed = saltMoved || fractionMoved || integrity.group_changes > 0;
  const parts: string[] = [];
  if (saltMoved) {
    parts.push(
      `the snapshots of this period used ${salts.length} holdout salt(s) (${salts.map((s) => JSON.stringify(s)).join(', ')}); the configuration says ${JSON.stringify(configured)}`,
    );
  }
  if (fractionMoved) {
    parts.push(
      `the snapshots used holdout fraction(s) ${fractions.join(', ')}; the configuration says ${fraction}`,
    );
  }
  if (integrity.group_changes > 0) {
    parts.push(`${integrity.group_changes} people changed group during one stay`);
  }
  if (integrity.assignment_mismatches > 0) {
    parts.push(
      `${integrity.assignment_mismatches} people are in a different group than the configured salt and fraction give`,
    );
  }
  return {
    configured,
    fraction,
    manifest_salts: salts,
    manifest_fractions: fractions,
    assignment_mismatches: integrity.assignment_mismatches,
    group_changes: integrity.group_changes,
    changed,
    note:
      parts.length === 0
        ? null
        : `Holdout assignment changed or differs from the configuration: ${parts.join('; ')}. ` +
          'People are counted in the group they were first recorded in (intent-to-treat), but a new salt ' +
          'reshuffles the control group, so compare periods on either side of the change separately.',
  };
}

type ReportBase = Omit<LiftReport, 'headline' | 'warnings'>;

function warningsFor(r: ReportBase): string[] {
  const out: string[] = [];
  if (r.srm.flagged) {
    out.push(
      `Sample-ratio mismatch: the holdout is ${percent(r.srm.observed_share, 2)} of the cohort, ` +
        `${percent(r.srm.expected_share, 2)} was configured (${pValue(r.srm.p_value)}). Assignment or data ` +
        'collection is broken; do not trust the lift until it is explained.',
    );
  }
  if (r.contamination.flagged) {
    const where = Object.entries(r.contamination.by_destination)
      .filter(([, n]) => n > 0)
      .map(([d, n]) => `${d}: ${count(n)}`)
      .join(', ');
    out.push(
      `Contamination: ${count(r.contamination.contaminated_people)} holdout people ` +
        `(${percent(r.contamination.share, 2)}) are in destination ledgers (${where}). They may have seen ` +
        'the ads, which biases the lift towards zero.',
    );
  }
  if (r.salt.note) out.push(r.salt.note);
  if (r.outcomes.unresolved > 0) {
    out.push(
      `${count(r.outcomes.unresolved)} ${r.event} events could not be tied to a person (no customer_id and ` +
        'no email in the identity snapshot); they are not counted in either group.',
    );
  }
  if (r.outcomes.currencies.length > 1) {
    out.push(
      `Revenue mixes currencies (${r.outcomes.currencies.join(', ')}); amounts are summed as they are.`,
    );
  }
  return out;
}

function headline(r: ReportBase): string {
  const t = r.groups.treatment;
  const h = r.groups.holdout;
  const window = `within ${r.window_days} days of entering`;
  if (t.people + h.people === 0) {
    const first = r.pending.by_entry_day[0];
    return first
      ? `No matured cohort yet: ${count(r.pending.people)} people who entered ${r.audience} are still inside ` +
          `their ${r.window_days}-day outcome window; the first results are due with the report as of ${first.matures_on}.`
      : `Nobody entered ${r.audience} between ${r.period.from} and ${r.period.to}, so there is nothing to measure.`;
  }
  if (h.people === 0 || t.people === 0) {
    return `Only the ${h.people === 0 ? 'treatment' : 'holdout'} group has matured people, so lift cannot be measured yet.`;
  }
  const useAdjusted = r.headline_estimate === 'adjusted' && r.adjusted !== null;
  const lift: NullableEstimate = useAdjusted ? r.adjusted!.absolute_lift : r.absolute_lift;
  // Intent-to-treat: the treatment group is everyone assigned to it, reached by an ad or not.
  const rates = `The treatment group converted at ${percent(t.rate)} ${window} ${r.audience}, the holdout at ${percent(h.rate)}`;
  const interval = useAdjusted
    ? `(adjusted, 95% interval ${points(lift.ci_low)} to ${points(lift.ci_high)})`
    : `(95% interval ${points(lift.ci_low)} to ${points(lift.ci_high)}, ${pValue(r.p_value)})`;
  const relativeLift = useAdjusted ? r.adjusted!.relative_lift : r.relative_lift;
  const relative = relativeLift.estimate === null ? '' : `, ${signedPercent(relativeLift.estimate)} relative`;
  const inc = r.incremental_conversions;
  const extra =
    inc.estimate === null
      ? ''
      : ` That is about ${signedCount(inc.estimate)} conversions (${signedCount(inc.ci_low)} to ${signedCount(inc.ci_high)})` +
        (r.incremental_revenue.estimate === null
          ? ''
          : ` and ${signedCount(r.incremental_revenue.estimate, 2)}${currency(r.outcomes.currencies)} revenue`) +
        ` across ${count(t.people)} treated people.`;
  let verdict: string;
  // A fixed-horizon "significant" that the always-valid interval does not confirm is said as such.
  const once = r.always_valid && !r.always_valid.excludes_zero ? 'Read once, at this horizon, p' : 'P';
  if (lift.ci_low !== null && lift.ci_low > 0) {
    verdict = `${once}aid amplification added ${points(lift.estimate)}${relative} ${interval}.`;
  } else if (lift.ci_high !== null && lift.ci_high < 0) {
    verdict = `The treatment group converted less: ${points(lift.estimate)}${relative} ${interval}.`;
  } else {
    verdict =
      `No difference can be told apart from chance: ${points(lift.estimate)}${relative} ${interval}. ` +
      `At these group sizes only differences of about ${points(r.mde).replace('+', '')} or more are reliably detected.`;
  }
  const caution =
    r.srm.flagged || r.contamination.flagged || r.salt.changed
      ? ' See the warnings before acting on it.'
      : '';
  return `${rates}. ${estimateChoice(r)}${verdict}${extra}${sequential(r)}${caution}`;
}

/** Which estimate the headline reads, and why. */
function estimateChoice(r: ReportBase): string {
  const a = r.adjusted;
  if (!a) return '';
  const n = a.covariates.length;
  const what = `${n} pre-entry covariate${n === 1 ? '' : 's'} (${a.covariates.join(', ')})`;
  if (a.reduces_variance) {
    return (
      `This uses the estimate adjusted for ${what}, which removed ${percent(a.variance_reduction)} of the variance ` +
      `(unadjusted: ${points(r.absolute_lift.estimate)}, 95% interval ${points(r.absolute_lift.ci_low)} to ${points(r.absolute_lift.ci_high)}). `
    );
  }
  return (
    `The adjustment for ${what} did not reduce the variance (${signedPercent(a.variance_reduction)} change), ` +
    'so this uses the unadjusted estimate. '
  );
}

/** The always-valid verdict: "no decision yet" until the confidence sequence excludes zero. */
function sequential(r: ReportBase): string {
  const av = r.always_valid;
  if (!av) return '';
  const band = `always-valid 95% interval ${points(av.absolute_lift.ci_low)} to ${points(av.absolute_lift.ci_high)}`;
  return av.excludes_zero
    ? ` The ${band} excludes zero too, so this holds even for a report read every day.`
    : ` No decision yet: the ${band}, which stays valid however often the report is read, still includes zero.`;
}

function currency(currencies: string[]): string {
  return currencies.length === 1 ? ` ${currencies[0]}` : '';
}

/** The newest day with a written lift report for the audience, or undefined (for the API). */
async function latestLiftReportDay(store: ObjectStore, audienceId: string): Promise<string | undefined> {
  assertAudience(audienceId);
  let latest: string | undefined;
  for await (const info of store.list(`reports/lift/${audienceId}/`)) {
    const day = partitionDay(info.key);
    if (
      day &&
      info.key === keys.liftReport(audienceId, day, 'json') &&
      (latest === undefined || day > latest)
    ) {
      latest = day;
    }
  }
  return latest;
}

/**
 * The written report of a day (default: the newest), for the API: the parsed JSON and the key of
 * the page. Undefined when no report was written.
 */
export async function readLiftReport(
  store: ObjectStore,
  audienceId: string,
  day?: string,
): Promise<{ day: string; report: LiftReport; htmlKey: string } | undefined> {
  const dt = day ?? (await latestLiftReportDay(store, audienceId));
  if (dt === undefined) return undefined;
  if (!isDay(dt)) throw new LiftError(`report day must be YYYY-MM-DD, got ${JSON.stringify(dt)}`, 'input');
  const report = await readJsonIfExists<LiftReport>(store, keys.liftReport(audienceId, dt, 'json'));
  return report ? { day: dt, report, htmlKey: keys.liftReport(audienceId, dt, 'html') } : undefined;
}

/** The last complete UTC day: the default as-of, so a window counts only once it has fully ended. */
export function lastCompleteDay(now: Date = new Date()): string {
  return addDays(now.toISOString().slice(0, 10), -1);
}
