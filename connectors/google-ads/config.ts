import { z } from 'zod';
import { batchSize, secret } from '../core/schema.js';

/** Google Ads API version, pinned in one place (the REST bodies of rest-types.ts are v24's). */
export const GOOGLE_ADS_API_VERSION = 'v24';
/** People per push; Google recommends about 10,000 per addOperations request. */
export const GOOGLE_MAX_BATCH = 10_000;
/** Hard limits: identifiers per addOperations request, identifiers per person. */
export const GOOGLE_MAX_IDENTIFIERS_PER_REQUEST = 100_000;
export const GOOGLE_MAX_IDENTIFIERS_PER_PERSON = 20;
/** The longest membership life span Google accepts since April 2025 (more fails with TOO_HIGH). */
export const GOOGLE_MAX_LIFE_SPAN_DAYS = 540;

const customerId = z
  .union([z.string(), z.number().int().nonnegative()], { error: 'must be a 10-digit customer id' })
  .transform((v) => String(v).replace(/-/g, '').trim())
  .refine((v) => /^\d{10}$/.test(v), 'must be a 10-digit customer id (dashes allowed)');

const optionsShape = {
  customer_id: customerId.optional(),
  /** The manager account to act through, when access comes from an MCC. */
  login_customer_id: customerId.optional(),
  /** What the list matches on: contact info (email, phone, address), our customer_id, or MAIDs. */
  upload_key_type: z.enum(['CONTACT_INFO', 'CRM_ID', 'MOBILE_ADVERTISING_ID']).default('CONTACT_INFO'),
  /** Required by Google for MOBILE_ADVERTISING_ID lists. */
  app_id: z.string().min(1).optional(),
  membership_life_span_days: z
    .number()
    .int()
    .min(1)
    .max(GOOGLE_MAX_LIFE_SPAN_DAYS)
    .default(GOOGLE_MAX_LIFE_SPAN_DAYS),
  batch_size: batchSize(GOOGLE_MAX_BATCH, GOOGLE_MAX_BATCH),
  /** How often `finalize` checks a running job. Jobs can take hours. */
  poll_interval_seconds: z.number().positive().max(3600).default(30),
};

export const googleOptionsSchema = z.object(optionsShape);
export type GoogleOptions = z.infer<typeof googleOptionsSchema>;

/**
 * Credentials: the OAuth refresh-token flow (client id, client secret, refresh token — the usual
 * installed-app or web flow), or a ready access token for short runs.
 */
export const googleConfigSchema = z
  .strictObject({
    type: z.literal('google_ads'),
    ...optionsShape,
    customer_id: customerId,
    developer_token: secret,
    client_id: secret.optional(),
    client_secret: secret.optional(),
    refresh_token: secret.optional(),
    access_token: secret.optional(),
  })
  .superRefine((config, ctx) => {
    const oauth = [config.client_id, config.client_secret, config.refresh_token];
    if (config.access_token === undefined && oauth.some((v) => v === undefined)) {
      for (const [i, name] of (['client_id', 'client_secret', 'refresh_token'] as const).entries()) {
        if (oauth[i] === undefined) {
          ctx.addIssue({ code: 'custom', path: [name], message: 'is required (or set access_token)' });
        }
      }
    }
    if (config.upload_key_type === 'MOBILE_ADVERTISING_ID' && !config.app_id) {
      ctx.addIssue({
        code: 'custom',
        path: ['app_id'],
        message: 'is required for MOBILE_ADVERTISING_ID lists',
      });
    }
  });
export type GoogleConfig = z.infer<typeof googleConfigSchema>;
