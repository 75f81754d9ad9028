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

export const destinationName = z
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
  })
  .default({
    max_remove_share: 0.3,
    recreate_deleted_audiences: false,
    audience_name_prefix: 'audience-sync ',
    concurrency: 4,
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
