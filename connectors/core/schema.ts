import { z } from 'zod';

/**
 * Zod pieces every connector config uses. Messages never echo the value (it may be a secret).
 */

const UNRESOLVED_RE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/;

/** A credential: non-empty, and not a `${VAR}` reference left unresolved. */
export const secret = z
  .string({ error: 'is required' })
  .min(1, 'must not be empty')
  .refine((v) => !UNRESOLVED_RE.test(v), 'references an environment variable that is not set');

/** An id written as a string or a number in YAML (`advertiser_id: 7000000000`), kept as digits. */
export const numericId = z
  .union([z.string(), z.number().int().nonnegative()], { error: 'must be a numeric id' })
  .transform((v) => String(v).trim())
  .refine((v) => /^\d{1,32}$/.test(v), 'must be a numeric id');

/** An optional `batch_size`, bounded by the platform's maximum. */
export function batchSize(max: number, fallback: number) {
  return z.number().int().min(1).max(max, `must be at most ${max} (the platform's limit)`).default(fallback);
}
