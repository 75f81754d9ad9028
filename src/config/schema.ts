import { z } from 'zod';

/**
 * The shape of `audience-sync.yaml`. Unknown keys are errors everywhere, so a typo is reported
 * instead of silently ignored. The audience language (`audiences`, `never_send`) is refined by the
 * audience engine (`src/audiences/config.ts`).
 */

export const DESTINATION_TYPES = ['meta', 'google_ads', 'tiktok', 'customerio', 'dry_run'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/**
 * A destination block: its `type` picks the connector, whose own zod schema validates the rest
 * when the destination is used (so secrets need to exist only then).
 */
export const destinationSchema = z.looseObject({ type: z.enum(DESTINATION_TYPES) });
export type DestinationConfig = z.infer<typeof destinationSchema>;

const destinationName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "destination names use letters, digits, '_' and '-'");

export const baseConfigSchema = z.strictObject({
  version: z.literal(1, { error: 'version must be 1' }),
  event_aliases: z.record(z.string().min(1), z.string().min(1)).default({}),
  destinations: z.record(destinationName, destinationSchema).default({}),
  never_send: z.unknown().optional(),
  audiences: z.array(z.unknown()).default([]),
});

/** `sync_settings:` — how the sync engine treats every destination. */
export const syncSettingsSchema = z
  .strictObject({
    /** Largest share of an audience one plan may remove without `--confirm`. */
    max_remove_share: z.number().gt(0).lte(1).default(0.3),
    /** Re-create a platform audience deleted on the platform side (everyone is sent again). */
    recreate_deleted_audiences: z.boolean().default(false),
    /** Platform-side audience names are `<prefix><audience id>`. */
    audience_name_prefix: z.string().max(100).default('audience-sync '),
    /** Audience × destination syncs running at once in one process. */
    concurrency: z.number().int().min(1).max(32).default(4),
    /** Seconds between flushes of the real-time micro-batches (`realtime:` triggers), per destination. */
    realtime_flush_seconds: z
      .number({ error: 'realtime_flush_seconds must be a number of seconds' })
      .min(1, 'realtime_flush_seconds must be at least 1')
      .max(300, 'realtime_flush_seconds must be at most 300')
      .default(5),
  })
  .default({
    max_remove_share: 0.3,
    recreate_deleted_audiences: false,
    audience_name_prefix: 'audience-sync ',
    concurrency: 4,
    realtime_flush_seconds: 5,
  });

/** `schedule:` — when the daily refresh runs by itself (BullMQ job scheduler). */
export const scheduleSchema = z
  .strictObject({
    /** Cron expression (5 or 6 fields). */
    cron: z.string().min(9).default('0 6 * * *'),
    /** IANA time zone of the cron expression. */
    timezone: z
      .string()
      .refine((tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      }, 'is not an IANA time zone')
      .default('UTC'),
    /** The refreshed day is the day before the run's date in this time zone (the last complete day). */
    enabled: z.boolean().default(true),
  })
  .default({ cron: '0 6 * * *', timezone: 'UTC', enabled: true });

// --- data health and alerts (src/health) ----------------------------------------------------------

const minutes = z
  .number()
  .int()
  .positive()
  .max(60 * 24 * 30);
const share = z.number().min(0).max(1);

/**
 * `health:` — thresholds of the data-health checks (`audience-sync check` and the scheduled job).
 * Every key has a default, so `health:` can be left out entirely.
 */
export const healthSchema = z
  .strictObject({
    /** How often the scheduled check job runs. */
    every_minutes: z.number().int().min(1).max(1440).default(15),
    /** Alert when the newest raw part of a dataset is older than this many minutes (`null`: never). */
    freshness: z
      .strictObject({
        events: minutes.nullable().default(180),
        messages: minutes.nullable().default(180),
        people: minutes.nullable().default(1440),
      })
      .prefault({}),
    /** Alert when the oldest record still waiting in a Redis buffer is older than this. */
    buffer: z.strictObject({ max_age_minutes: minutes.default(15) }).prefault({}),
    /** The last complete day's record count against the median of the days before it. */
    volume: z
      .strictObject({
        baseline_days: z.number().int().min(3).max(56).default(7),
        /** Fire when the day has fewer than `drop_below` × median records. */
        drop_below: z.number().gt(0).lt(1).default(0.5),
        /** Fire when the day has more than `spike_above` × median records. */
        spike_above: z.number().gt(1).default(3),
        /** Below this median there is too little history to judge. */
        min_baseline: z.number().int().min(1).default(100),
      })
      .prefault({}),
    /** Schema drift of the last complete day against the baseline days. */
    schema: z
      .strictObject({
        /** The day needs at least this many records before its shape is compared. */
        min_records: z.number().int().min(1).default(100),
        /** A field carried by at least this share of baseline records is expected. */
        established_share: share.default(0.5),
        /** An expected field has vanished when its share falls below this fraction of its baseline share. */
        vanished_ratio: share.default(0.1),
        /** A field never seen in the baseline is reported when this share of the day's records carry it. */
        new_field_share: share.default(0.05),
        /** An event name (or message channel/metric) never seen in the baseline, with at least this many records. */
        new_name_min_records: z.number().int().min(1).default(20),
        /** Fire when the day's quarantine rate exceeds the baseline median by this many points (0.05 = 5 %). */
        quarantine_jump: share.default(0.05),
        min_quarantined: z.number().int().min(1).default(20),
      })
      .prefault({}),
    /** Real-time suppression (docs/operations.md): the lag of the latest micro-batch. */
    realtime: z
      .strictObject({
        /** Warn when the latest real-time run's p99 lag (ingest to platform acknowledgement) exceeds this. */
        max_lag_seconds: z.number().positive().max(86_400).default(120),
      })
      .prefault({}),
    /** Identifier coverage and match rate of the latest sync against the runs before it. */
    coverage: z
      .strictObject({
        baseline_runs: z.number().int().min(1).max(60).default(7),
        /** Fire when coverage (any identifier, or one type) falls by this many points. */
        max_drop: share.default(0.1),
        match_rate_max_drop: share.default(0.1),
      })
      .prefault({}),
    /** The daily refresh: its day is expected built and synced this long after the day ended. */
    refresh: z.strictObject({ grace_hours: z.number().min(1).max(72).default(12) }).prefault({}),
  })
  .prefault({});

const ALERT_SEVERITIES = ['warning', 'critical'] as const;

/**
 * `alerts:` — where findings go when they change state (firing → resolved). The webhook URL is a
 * secret (Slack webhook URLs are): write it as `"${ALERT_WEBHOOK_URL}"`; an unset variable only
 * disables the webhook, with a message naming it.
 */
export const alertsSchema = z
  .strictObject({
    log: z.boolean().default(true),
    webhook: z
      .strictObject({
        url: z.string().min(1),
        min_severity: z.enum(ALERT_SEVERITIES).default('warning'),
        timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
      })
      .optional(),
  })
  .prefault({});
