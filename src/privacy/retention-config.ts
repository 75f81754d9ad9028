import { z } from 'zod';

/**
 * `retention:` in `audience-sync.yaml` (docs/privacy.md, "Retention"): how many days each kind of
 * data is kept before the daily retention job deletes it. A limit of N days keeps the day N days
 * before today (UTC) and everything newer; the day before that goes.
 *
 * - `raw_days`: raw partitions (`raw/<dataset>/dt=D/`), people snapshots (`people/dt=D/`) and
 *   audience snapshots (`audiences/<id>/dt=D/`). It may not be shorter than the longest lookback
 *   of the audiences (and `never_send`) plus the lift window: the build and the lift report read
 *   that far back. Unset, it is 400 days, or that minimum when it is longer.
 * - `quarantine_days`: rejected and unreadable records (`quarantine/<dataset>/dt=D/`).
 * - `outbox_days`: dry runs' request bodies, plans and reports (`outbox/<destination>/<id>/<run>/`).
 * - `runs_days`: sync run records and stored plans (`sync/<destination>/<id>/runs/`). Ledgers and
 *   `state.json` are never deleted.
 */
export const DEFAULT_RAW_DAYS = 400;
export const DEFAULT_QUARANTINE_DAYS = 30;
export const DEFAULT_OUTBOX_DAYS = 7;
export const DEFAULT_RUNS_DAYS = 90;
/** A hundred years: large enough to mean "keep", small enough to stay a valid day. */
export const MAX_RETENTION_DAYS = 36_500;

/**
 * The lift window of an audience with a holdout and no `measure.window_days`. The same number as
 * `DEFAULT_WINDOW_DAYS` in src/measure/report.ts (a test keeps them equal); repeated here so that
 * loading the configuration does not load the lift report.
 */
export const DEFAULT_LIFT_WINDOW_DAYS = 14;

const days = (key: string) =>
  z
    .number({ error: `${key} must be a number of days` })
    .int(`${key} must be whole days`)
    .min(1, `${key} must be at least 1`)
    .max(MAX_RETENTION_DAYS, `${key} must be at most ${MAX_RETENTION_DAYS}`);

export const retentionConfigSchema = z
  .strictObject({
    /** Filled in by the audience configuration when unset (`retentionFloor`). */
    raw_days: days('raw_days').optional(),
    quarantine_days: days('quarantine_days').default(DEFAULT_QUARANTINE_DAYS),
    outbox_days: days('outbox_days').default(DEFAULT_OUTBOX_DAYS),
    runs_days: days('runs_days').default(DEFAULT_RUNS_DAYS),
  })
  .prefault({});

/** `retention:` as the rest of the code sees it: every limit set. */
export interface RetentionConfig {
  raw_days: number;
  quarantine_days: number;
  outbox_days: number;
  runs_days: number;
}

/** What one audience (or `never_send`) needs kept, as the audience configuration computes it. */
export interface RetentionNeed {
  /** `audience "id"` or `never_send`. */
  what: string;
  lookbackDays: number;
  /** The lift window of an audience with a holdout; 0 when it has no lift report. */
  liftWindowDays: number;
}

export interface RetentionFloor {
  /** The longest lookback and what has it (undefined when nothing reads raw data over a window). */
  lookback: { days: number; what: string } | undefined;
  /** The longest lift window and its audience (undefined when no audience has a holdout). */
  lift: { days: number; what: string } | undefined;
  /** The shortest `raw_days` allowed: lookback + lift window. */
  days: number;
}

/** The longest lookback plus the longest lift window (the first of equal ones names them). */
export function retentionFloor(needs: readonly RetentionNeed[]): RetentionFloor {
  let lookback: RetentionFloor['lookback'];
  let lift: RetentionFloor['lift'];
  for (const n of needs) {
    if (n.lookbackDays > 0 && (!lookback || n.lookbackDays > lookback.days))
      lookback = { days: n.lookbackDays, what: n.what };
    if (n.liftWindowDays > 0 && (!lift || n.liftWindowDays > lift.days))
      lift = { days: n.liftWindowDays, what: n.what };
  }
  return { lookback, lift, days: (lookback?.days ?? 0) + (lift?.days ?? 0) };
}

/** `raw_days` when the file leaves it unset: the default, or the floor when that is longer. */
export function defaultRawDays(floor: RetentionFloor): number {
  return Math.max(DEFAULT_RAW_DAYS, floor.days);
}

/**
 * Why `raw_days` is refused, naming both numbers, or undefined when it is long enough. The caller
 * puts the path (`retention.raw_days`) in front.
 */
export function rawDaysProblem(rawDays: number, floor: RetentionFloor): string | undefined {
  if (rawDays >= floor.days) return undefined;
  const lookback = floor.lookback
    ? `the longest audience lookback (${floor.lookback.days} days, ${floor.lookback.what})`
    : 'the longest audience lookback (0 days)';
  const lift = floor.lift
    ? `the lift window (${floor.lift.days} days, ${floor.lift.what})`
    : 'the lift window (0 days: no audience has a holdout)';
  return (
    `${rawDays} days is shorter than ${lookback} plus ${lift} = ${floor.days} days: ` +
    `builds and lift reports read raw data that far back (set at least ${floor.days})`
  );
}
