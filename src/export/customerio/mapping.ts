import { z } from 'zod';

/**
 * How Customer.io Data Out parquet files map to canonical records. Only some columns are confirmed
 * (docs/configuration.md, "import": Deliveries `workspace_id`, `delivery_id`, `internal_customer_id`,
 * `subject_id`, `event_id`; People ids with deleted / suppressed status); every other name is a
 * documented default that `import.customerio` in the YAML can override. A field may list several
 * candidate columns: the first one present (and non-null in the row) wins.
 *
 * ```yaml
 * import:
 *   customerio:
 *     file_types: { deliveries: [deliveries], metrics: [metrics], people: [people] }
 *     metrics:
 *       columns: { href: [link_url, href] }
 * ```
 */

const columns = z.union([z.string().min(1).max(200), z.array(z.string().min(1).max(200)).min(1)]);
type Columns = z.infer<typeof columns>;

function columnMap<const K extends string>(defaults: Record<K, string | readonly string[]>) {
  const shape = Object.fromEntries(Object.keys(defaults).map((k) => [k, columns.optional()])) as Record<
    K,
    z.ZodOptional<typeof columns>
  >;
  // Overrides are merged over the defaults, so a YAML block only names what differs.
  return z
    .strictObject(shape)
    .optional()
    .transform((given) => {
      const out = {} as Record<K, string[]>;
      for (const key of Object.keys(defaults) as K[]) {
        const value: string | readonly string[] =
          (given as Partial<Record<K, Columns>> | undefined)?.[key] ?? defaults[key];
        out[key] = typeof value === 'string' ? [value] : [...value];
      }
      return out;
    });
}

const columnList = z.array(z.string().min(1).max(200));

const DELIVERY_COLUMNS = {
  delivery_id: 'delivery_id',
  cio_id: 'internal_customer_id',
  channel: ['delivery_type', 'type'],
  ts: ['created_at', 'created'],
  campaign_id: 'campaign_id',
  action_id: 'action_id',
  broadcast_id: 'broadcast_id',
  newsletter_id: 'newsletter_id',
  journey_id: 'journey_id',
  transactional_message_id: 'transactional_message_id',
} as const;

const METRIC_COLUMNS = {
  id: 'event_id',
  delivery_id: 'delivery_id',
  metric: 'metric',
  ts: ['created_at', 'timestamp'],
  href: ['link_url', 'href'],
  cio_id: 'internal_customer_id',
  customer_id: 'customer_id',
  channel: 'delivery_type',
} as const;

const PEOPLE_COLUMNS = {
  customer_id: 'customer_id',
  cio_id: 'internal_customer_id',
  email: ['email', 'email_addr'],
  deleted: 'deleted',
  suppressed: 'suppressed',
  ts: ['updated_at', 'created_at'],
} as const;

/** Columns we know and deliberately do not map: not reported as unexpected. */
const KNOWN_UNMAPPED = {
  deliveries: [
    'workspace_id',
    'subject_id',
    'event_id',
    'parent_action_id',
    'content_id',
    'trigger_event_id',
    'seq_num',
  ],
  metrics: ['workspace_id', 'reason', 'link_id', 'seq_num'],
  people: ['workspace_id'],
} as const;

export const FILE_TYPES = ['deliveries', 'metrics', 'people'] as const;
export type FileType = (typeof FILE_TYPES)[number];

export const customerIoImportSchema = z
  .strictObject({
    /** Substrings of the object key's file name that identify each file type (case-insensitive). */
    file_types: z
      .strictObject({
        deliveries: columnList.default(['deliveries', 'delivery']),
        metrics: columnList.default(['metrics', 'metric']),
        people: columnList.default(['people', 'person']),
      })
      .prefault({}),
    deliveries: z
      .strictObject({
        columns: columnMap(DELIVERY_COLUMNS),
        ignore_columns: columnList.default([...KNOWN_UNMAPPED.deliveries]),
        /** Metric of the message record a Deliveries row becomes (Customer.io's "created" state). */
        metric: z.string().min(1).max(64).default('created'),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        columns: columnMap(METRIC_COLUMNS),
        ignore_columns: columnList.default([...KNOWN_UNMAPPED.metrics]),
      })
      .prefault({}),
    people: z
      .strictObject({
        columns: columnMap(PEOPLE_COLUMNS),
        ignore_columns: columnList.default([...KNOWN_UNMAPPED.people]),
      })
      .prefault({}),
    /** Metrics rows are joined to their delivery for the person; deliveries older than this are forgotten. */
    delivery_index_days: z.number().int().min(1).max(3650).default(90),
  })
  .prefault({});

export type CustomerIoImportConfig = z.output<typeof customerIoImportSchema>;

/** The `import:` block of `audience-sync.yaml`. */
export const importConfigSchema = z.strictObject({ customerio: customerIoImportSchema }).prefault({});
export type ImportConfig = z.output<typeof importConfigSchema>;

export function defaultImportConfig(): CustomerIoImportConfig {
  return customerIoImportSchema.parse(undefined);
}

/** The file type of an object key, from its file name; `undefined` for types we do not import. */
export function fileTypeOf(key: string, config: CustomerIoImportConfig): FileType | undefined {
  const name = (key.split('/').pop() ?? key).toLowerCase();
  for (const type of FILE_TYPES) {
    if (config.file_types[type].some((pattern) => name.includes(pattern.toLowerCase()))) return type;
  }
  return undefined;
}

/** Every column a file type's mapping may read, plus the ones it knowingly ignores. */
export function expectedColumns(type: FileType, config: CustomerIoImportConfig): Set<string> {
  const section = config[type];
  const out = new Set<string>(section.ignore_columns);
  for (const candidates of Object.values(section.columns) as string[][])
    for (const c of candidates) out.add(c);
  return out;
}
