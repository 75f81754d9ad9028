import { z } from 'zod';

/**
 * `privacy:` in `audience-sync.yaml` (docs/privacy.md).
 * - `erase_deleted_people`: a person whose Customer.io record arrives deleted (an identify with
 *   `deleted: true`, a Data Out people row with `deleted`) gets an erasure request of their own
 *   when the people snapshot is updated. Off by default: a deletion in Customer.io is not always a
 *   request to be forgotten, and an erasure cannot be undone.
 */
export const privacyConfigSchema = z
  .strictObject({
    erase_deleted_people: z.boolean({ error: 'erase_deleted_people must be true or false' }).default(false),
  })
  .prefault({});

export type PrivacyConfig = z.output<typeof privacyConfigSchema>;
