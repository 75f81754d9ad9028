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
