import { z } from 'zod';
import { batchSize, numericId, secret } from '../core/schema.js';

/** TikTok Business API version, pinned in one place. */
export const TIKTOK_API_VERSION = 'v1.3';
/**
 * People per mapping request. TikTok does not document the limit (unconfirmed): the default is
 * 1,000 as partner integrations use; `batch_size` may change it up to this cap.
 */
export const TIKTOK_MAX_BATCH = 10_000;
export const TIKTOK_DEFAULT_BATCH = 1_000;
/** Customer-file updates fail when the audience would fall below this. */
export const TIKTOK_MIN_AUDIENCE = 1_000;

const optionsShape = {
  advertiser_id: numericId.optional(),
  batch_size: batchSize(TIKTOK_MAX_BATCH, TIKTOK_DEFAULT_BATCH),
  /** Which id_schema the MAID column uses: iOS IDFA or Android GAID. */
  maid_type: z.enum(['IDFA', 'GAID']).default('IDFA'),
  /** How long to wait after a throttling answer when TikTok gives no hint (codes are unconfirmed). */
  throttle_delay_seconds: z.number().positive().max(3600).default(60),
};

export const tiktokOptionsSchema = z.object(optionsShape);
export type TiktokOptions = z.infer<typeof tiktokOptionsSchema>;

export const tiktokConfigSchema = z.strictObject({
  type: z.literal('tiktok'),
  ...optionsShape,
  advertiser_id: numericId,
  access_token: secret,
});
export type TiktokConfig = z.infer<typeof tiktokConfigSchema>;
