import { z } from 'zod';

/**
 * Write-back (an audience's `write_back:` block): member fields and computed traits that can be set
 * as attributes on a person in Customer.io, and the mapping `attribute name → source`. The audience
 * language validates the mapping with this schema and the Customer.io connector fills it in
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

/**
 * A trait written back (docs/traits.md#write-back). `type` is filled in when the file loads (from
 * the trait's definition): a `date` is sent as a Unix timestamp, as Customer.io wants dates.
 */
export interface TraitSource {
  trait: string;
  type?: 'number' | 'string' | 'date';
}

/**
 * Attributes Customer.io reserves (identifiers, subscription state, its own timestamps): a write-back
 * must not overwrite them. Names starting with `_` are its system attributes.
 */
export const RESERVED_ATTRIBUTES: readonly string[] = [
  'id',
  'email',
  'cio_id',
  'created_at',
  'unsubscribed',
  'anonymous_id',
];

const traitSource = z.strictObject({
  trait: z
    .string({ error: 'trait must name a trait' })
    .regex(/^[a-z][a-z0-9_]{0,62}$/, 'trait must name a trait'),
  /** Optional: checked against the trait's type when the file loads, filled in when left out. */
  type: z.enum(['number', 'string', 'date'], { error: 'type must be number, string or date' }).optional(),
});

export const writeBackMappingSchema = z
  .record(
    z.string(),
    z.union([z.enum(WRITE_BACK_SOURCES), traitSource], {
      error: `must be one of ${WRITE_BACK_SOURCES.join(', ')}, or { trait: <name> }`,
    }),
  )
  .superRefine((mapping, ctx) => {
    // Checked here rather than as the record's key schema, so the message names the attribute.
    for (const name of Object.keys(mapping)) {
      if (!/^[A-Za-z][A-Za-z0-9_]{0,99}$/.test(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message:
            'attribute names use letters, digits and _, starting with a letter, up to 100 (Customer.io system attributes start with _)',
        });
      else if (RESERVED_ATTRIBUTES.includes(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `is a Customer.io reserved attribute (${RESERVED_ATTRIBUTES.join(', ')}): a write-back must not overwrite it`,
        });
    }
  })
  .refine((m) => Object.keys(m).length > 0, 'write_back needs at least one attribute');
export type WriteBackMapping = Record<string, WriteBackSource | TraitSource>;

/** The traits a mapping writes back. */
export function writeBackTraits(mapping: WriteBackMapping | undefined): string[] {
  return Object.values(mapping ?? {}).flatMap((s) => (typeof s === 'object' ? [s.trait] : []));
}

/** A date trait (`YYYY-MM-DD`) as Customer.io stores dates: Unix seconds at 00:00 UTC of the day. */
export function unixDay(day: string): number | null {
  const ms = Date.parse(`${day}T00:00:00.000Z`);
  return Number.isFinite(ms) ? ms / 1000 : null;
}
