import { z } from 'zod';

/**
 * Write-back (an audience's `write_back:` block): member fields that can be set as attributes on a
 * person in Customer.io, and the mapping `attribute name → member field`. The audience language
 * validates the mapping with this schema and the Customer.io connector fills it in
 * (`connectors/customerio/attributes.ts`), so both read the same names.
 */
export const WRITE_BACK_SOURCES = [
  'group',
  'score',
  'rank',
  'entered',
  'decile',
  'member',
  'audience',
] as const;
export type WriteBackSource = (typeof WRITE_BACK_SOURCES)[number];

export const writeBackMappingSchema = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,99}$/, 'attribute names use letters, digits and _'),
    z.enum(WRITE_BACK_SOURCES, { error: `must be one of ${WRITE_BACK_SOURCES.join(', ')}` }),
  )
  .refine((m) => Object.keys(m).length > 0, 'write_back needs at least one attribute');
export type WriteBackMapping = z.infer<typeof writeBackMappingSchema>;
