import { z } from 'zod';

/**
 * Canonical records as they are stored in `raw/`, `people/` and `audiences/` (JSON Lines).
 * These schemas describe the *clean* shape; `validate.ts` turns loose input into it, dropping bad
 * fields and rejecting only records that cannot be used at all.
 */

/**
 * A canonical timestamp: exactly what `Date.prototype.toISOString()` prints, so timestamps
 * compare as strings. The one pattern every reader checks stored timestamps against.
 */
export const CANONICAL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const isoTimestamp = z.string().regex(CANONICAL_TIMESTAMP, 'not a canonical UTC timestamp');
export const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'not a YYYY-MM-DD day');

export const LIMITS = {
  id: 256,
  name: 200,
  email: 254,
  text: 1_000,
  /** Serialized size of `properties` / `attributes`. */
  bag: 64 * 1024,
} as const;

const id = z.string().min(1).max(LIMITS.id);
const text = z.string().max(LIMITS.text);
const bag = z.record(z.string(), z.unknown());

export const eventRecord = z.object({
  id,
  customer_id: id.optional(),
  anonymous_id: id.optional(),
  email: z.string().max(LIMITS.email).optional(),
  name: z.string().min(1).max(LIMITS.name),
  raw_name: z.string().max(LIMITS.name),
  ts: isoTimestamp,
  properties: bag,
  received_at: isoTimestamp,
  source: z.string().max(64),
});
export type EventRecord = z.infer<typeof eventRecord>;

/** Message activity, one per Customer.io reporting event (`id` = Customer.io `event_id`). */
export const messageRecord = z.object({
  id,
  customer_id: id.optional(),
  email: z.string().max(LIMITS.email).optional(),
  cio_id: id.optional(),
  channel: z.string().min(1).max(32),
  metric: z.string().min(1).max(64),
  delivery_id: id.optional(),
  campaign_id: id.optional(),
  broadcast_id: id.optional(),
  newsletter_id: id.optional(),
  journey_id: id.optional(),
  action_id: id.optional(),
  transactional_message_id: id.optional(),
  href: z.string().max(2048).optional(),
  ts: isoTimestamp,
  received_at: isoTimestamp,
  source: z.string().max(64),
});
export type MessageRecord = z.infer<typeof messageRecord>;

export const consentValue = z.enum(['granted', 'denied']);
export type ConsentValue = z.infer<typeof consentValue>;

export const personRecord = z.object({
  customer_id: id,
  email: z.string().max(LIMITS.email).optional(),
  phone: z.string().max(20).optional(),
  first_name: text.optional(),
  last_name: text.optional(),
  city: text.optional(),
  region: text.optional(),
  postal_code: z.string().max(20).optional(),
  country: z.string().length(2).optional(),
  maid: z.string().max(100).optional(),
  cio_id: id.optional(),
  unsubscribed: z.boolean().optional(),
  deleted: z.boolean().optional(),
  consent: z
    .object({ ad_user_data: consentValue.optional(), ad_personalization: consentValue.optional() })
    .optional(),
  attributes: bag.optional(),
  ts: isoTimestamp,
});
export type PersonRecord = z.infer<typeof personRecord>;

/** Scalar identity and profile fields of a person, in the order snapshot lines print them. */
export const PERSON_SCALAR_FIELDS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'city',
  'region',
  'postal_code',
  'country',
  'maid',
  'cio_id',
  'unsubscribed',
  'deleted',
] as const satisfies readonly (keyof PersonRecord)[];

export const memberRecord = z.object({
  customer_id: id,
  group: z.enum(['treatment', 'holdout']),
  score: z.number().finite(),
  rank: z.number().int().positive(),
  entered: isoDay,
  /** Values of the traits the audience writes back (docs/traits.md#write-back); dates as YYYY-MM-DD. */
  traits: z.record(z.string(), z.union([z.string(), z.number(), z.null()])).optional(),
});
export type MemberRecord = z.infer<typeof memberRecord>;

// In their own module so that the CLI can list them at start-up without loading zod.
export { DATASETS, type Dataset } from './datasets.js';
