import { z } from 'zod';
import { batchSize, secret } from '../core/schema.js';

/** Track API version used for write-back. */
export const CIO_TRACK_API_VERSION = 'v2';
export const CIO_MAX_BATCH = 1_000;
/** Customer.io refuses batch requests of 500 KB or more; we stay under this. */
export const CIO_MAX_REQUEST_BYTES = 450 * 1024;

const optionsShape = {
  /** US or EU data center (CIO_TRACK_URL overrides both). */
  region: z.enum(['us', 'eu']).default('us'),
  batch_size: batchSize(CIO_MAX_BATCH, CIO_MAX_BATCH),
  /**
   * How a removed person's attributes are cleared. Customer.io documents an empty value as the
   * way to remove an attribute; whether v2 also accepts null is unconfirmed, so it is a setting.
   */
  clear_with: z.enum(['empty_string', 'null']).default('empty_string'),
};

export const cioOptionsSchema = z.object(optionsShape);
export type CioOptions = z.infer<typeof cioOptionsSchema>;

export const cioConfigSchema = z.strictObject({
  type: z.literal('customerio'),
  ...optionsShape,
  site_id: secret,
  api_key: secret,
});
export type CioConfig = z.infer<typeof cioConfigSchema>;
