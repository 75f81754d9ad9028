import { z } from 'zod';
import { batchSize, secret } from '../core/schema.js';

/** Graph API version, pinned in one place. */
export const META_API_VERSION = 'v24.0';
export const META_MAX_BATCH = 10_000;

const adAccountId = z
  .union([z.string(), z.number().int().nonnegative()], { error: 'must be an ad account id (act_123...)' })
  .transform((v) => String(v).trim())
  .refine((v) => /^(act_)?\d{1,32}$/.test(v), 'must be an ad account id (act_123...)')
  .transform((v) => (v.startsWith('act_') ? v : `act_${v}`));

/** Settings that shape payloads (no credentials): what dry-run needs to draft Meta requests. */
const optionsShape = {
  ad_account_id: adAccountId.optional(),
  customer_file_source: z
    .enum(['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'])
    .default('USER_PROVIDED_ONLY'),
  /** Adds DATA_PROCESSING_OPTIONS with ["LDU"] (Limited Data Use) to every row... */
  limited_data_use: z.boolean().default(false),
  /** ...or only to rows whose state is one of these US state codes (e.g. [ca, co]). */
  limited_data_use_states: z
    .array(z.string().regex(/^[A-Za-z]{2}$/, 'must be two-letter US state codes'))
    .optional(),
  /** Sends our customer_id as EXTERN_ID (unhashed). Off by default: some workspaces use emails as ids. */
  send_extern_id: z.boolean().default(false),
  batch_size: batchSize(META_MAX_BATCH, META_MAX_BATCH),
};

export const metaOptionsSchema = z.object(optionsShape);
export type MetaOptions = z.infer<typeof metaOptionsSchema>;

export const metaConfigSchema = z.strictObject({
  type: z.literal('meta'),
  ...optionsShape,
  ad_account_id: adAccountId,
  access_token: secret,
});
export type MetaConfig = z.infer<typeof metaConfigSchema>;
