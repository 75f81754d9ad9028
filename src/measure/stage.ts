import type { Covariate } from '../audiences/config.js';
import { addDays } from '../contract/days.js';
import type { ObjectStore } from '../storage/object-store.js';
import { listSnapshotDays } from './cohort.js';
import { DEFAULT_MEASURE_EVENT, DEFAULT_WINDOW_DAYS, type LiftReport, measureLift } from './report.js';

/**
 * The `measure` stage of the daily flow: a lift report for every audience with a holdout.
 * Takes the audience settings it needs as plain values, so the pipeline can pass whatever the
 * audience configuration parser produced.
 */

export interface MeasuredAudience {
  id: string;
  holdout?: { fraction: number; salt?: string | undefined } | undefined;
  measure?:
    | {
        event?: string | undefined;
        window_days?: number | undefined;
        covariates?: readonly Covariate[] | undefined;
      }
    | undefined;
}

/** Resolved lift settings of one audience: the defaults of docs/lift.md filled in. */
export function liftSettings(audience: MeasuredAudience): {
  holdoutFraction: number;
  salt: string;
  event: string;
  windowDays: number;
  covariates: readonly Covariate[];
} | null {
  if (!audience.holdout || !(audience.holdout.fraction > 0)) return null;
  return {
    holdoutFraction: audience.holdout.fraction,
    // The default salt is the audience id (docs/audiences.md, "Score, cut and holdout").
    salt: audience.holdout.salt ?? audience.id,
    event: audience.measure?.event ?? DEFAULT_MEASURE_EVENT,
    windowDays: audience.measure?.window_days ?? DEFAULT_WINDOW_DAYS,
    covariates: audience.measure?.covariates ?? [],
  };
}

export interface MeasureStageOptions {
  store: ObjectStore;
  audiences: readonly MeasuredAudience[];
  asOf: string;
  /**
   * Entry days per daily report: the last `lookbackDays` days before the newest matured entry day,
   * so the daily run reads a bounded number of snapshots however old the audience is. The CLI
   * covers any other period.
   */
  lookbackDays?: number;
}

export type MeasureStageResult =
  | { audience: string; status: 'written'; report: LiftReport; keys: { json: string; html: string } }
  | { audience: string; status: 'skipped'; reason: string };

export async function runMeasureStage(options: MeasureStageOptions): Promise<MeasureStageResult[]> {
  const lookback = options.lookbackDays ?? 90;
  const results: MeasureStageResult[] = [];
  for (const audience of options.audiences) {
    const settings = liftSettings(audience);
    if (!settings) {
      results.push({ audience: audience.id, status: 'skipped', reason: 'no holdout' });
      continue;
    }
    const days = await listSnapshotDays(options.store, audience.id);
    const first = days[0];
    if (first === undefined || first > options.asOf) {
      results.push({ audience: audience.id, status: 'skipped', reason: 'no snapshots yet' });
      continue;
    }
    const lastMature = addDays(options.asOf, -settings.windowDays);
    const earliest = addDays(lastMature, 1 - lookback);
    // The later of the two days (string order is day order; Math.max would not work on strings).
    const from = [first, earliest].sort()[1]!;
    const { report, keys } = await measureLift({
      store: options.store,
      audienceId: audience.id,
      from,
      to: options.asOf,
      asOf: options.asOf,
      ...settings,
    });
    results.push({ audience: audience.id, status: 'written', report, keys: keys! });
  }
  return results;
}
