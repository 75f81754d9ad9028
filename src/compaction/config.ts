import { z } from 'zod';
import { dayStartMs } from '../contract/days.js';

/**
 * `compaction:` in `audience-sync.yaml`. A day's raw partition is rewritten as Parquet once it is
 * *closed*: `grace_hours` after the end of the day (UTC). Data for a day keeps arriving after
 * midnight (late senders, retried exports, clocks that run behind), so compacting too early only
 * means more late parts; anything that still arrives after compaction is compacted into an extra
 * file on a later run, never lost.
 */
export const DEFAULT_GRACE_HOURS = 48;

export const compactionConfigSchema = z
  .strictObject({
    grace_hours: z
      .number({ error: 'grace_hours must be a number of hours' })
      .int('grace_hours must be whole hours')
      .min(0, 'grace_hours must be at least 0')
      .max(24 * 366, 'grace_hours must be at most 8784 (a year)')
      .default(DEFAULT_GRACE_HOURS),
  })
  .prefault({});

export type CompactionConfig = z.output<typeof compactionConfigSchema>;

/** The end of day D (UTC) plus the grace period: from then on, D is closed. */
export function closesAt(day: string, graceHours: number): Date {
  return new Date(dayStartMs(day) + 86_400_000 + graceHours * 3_600_000);
}

export function isClosed(day: string, now: Date, graceHours: number): boolean {
  return now.getTime() >= closesAt(day, graceHours).getTime();
}
