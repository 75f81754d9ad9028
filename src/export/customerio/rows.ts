import type { Loose } from '../../ingest/items.js';
import type { CustomerIoImportConfig } from './mapping.js';

/**
 * Parquet rows → loose canonical records. Pure functions: the file reading, the delivery join and
 * the contract check live elsewhere. Values are normalized from parquet types (BigInt, Date) first.
 */

const IMPORT_SOURCE = 'customerio_data_out';

export type Row = Record<string, unknown>;

/** BigInt ids and unix times become numbers when exact, strings otherwise; everything else as is. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  return value;
}

/** The first candidate column with a value in this row. */
export function pick(row: Row, candidates: readonly string[]): unknown {
  for (const column of candidates) {
    const v = plain(row[column]);
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

function toBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === '1' || value === 'true' || value === 't') return true;
  if (value === 0 || value === '0' || value === 'false' || value === 'f') return false;
  return undefined;
}

/** What a Metrics row needs from its delivery when it does not carry the person itself. */
export interface DeliveryFacts {
  cio_id?: string;
  channel?: string;
  campaign_id?: string;
  action_id?: string;
  broadcast_id?: string;
  newsletter_id?: string;
  journey_id?: string;
  transactional_message_id?: string;
  /** Creation time (ms), to forget old deliveries. */
  t?: number;
}

const SOURCE_IDS = [
  'campaign_id',
  'action_id',
  'broadcast_id',
  'newsletter_id',
  'journey_id',
  'transactional_message_id',
] as const;

export function deliveryFacts(
  row: Row,
  config: CustomerIoImportConfig,
): { id: string; facts: DeliveryFacts } | null {
  const c = config.deliveries.columns;
  const id = pick(row, c.delivery_id);
  if (id === undefined) return null;
  const facts: DeliveryFacts = {};
  const cio = pick(row, c.cio_id);
  if (cio !== undefined) facts.cio_id = String(cio);
  const channel = pick(row, c.channel);
  if (channel !== undefined) facts.channel = String(channel);
  for (const field of SOURCE_IDS) {
    const v = pick(row, c[field]);
    if (v !== undefined) facts[field] = String(v);
  }
  const ts = pick(row, c.ts);
  const ms =
    ts instanceof Date ? ts.getTime() : typeof ts === 'number' ? (ts < 1e10 ? ts * 1000 : ts) : undefined;
  if (ms !== undefined && Number.isFinite(ms)) facts.t = ms;
  return { id: String(id), facts };
}

/** A Deliveries row: the message was created for this person (Customer.io's `created` state). */
export function deliveryRecord(row: Row, config: CustomerIoImportConfig, receivedAt: string): Loose {
  const c = config.deliveries.columns;
  const deliveryId = pick(row, c.delivery_id);
  const out: Loose = {
    id: deliveryId === undefined ? undefined : `cio-delivery-${String(deliveryId)}`,
    delivery_id: deliveryId,
    cio_id: pick(row, c.cio_id),
    channel: pick(row, c.channel),
    metric: config.deliveries.metric,
    ts: pick(row, c.ts),
    received_at: receivedAt,
    source: IMPORT_SOURCE,
  };
  for (const field of SOURCE_IDS) out[field] = pick(row, c[field]);
  return out;
}

/** A Metrics row: one event of a delivery (sent, opened, clicked, ...), joined to its delivery. */
export function metricRecord(
  row: Row,
  config: CustomerIoImportConfig,
  receivedAt: string,
  delivery: DeliveryFacts | undefined,
): Loose {
  const c = config.metrics.columns;
  const deliveryId = pick(row, c.delivery_id);
  const metric = pick(row, c.metric);
  const ts = pick(row, c.ts);
  // Customer.io's metric event id is the webhook `event_id`, so both paths de-duplicate on it.
  const tsKey = ts instanceof Date ? ts.getTime() : ts;
  const id =
    pick(row, c.id) ?? (deliveryId !== undefined ? `cio-metric-${deliveryId}-${metric}-${tsKey}` : undefined);
  const out: Loose = {
    id,
    delivery_id: deliveryId,
    customer_id: pick(row, c.customer_id),
    cio_id: pick(row, c.cio_id) ?? delivery?.cio_id,
    channel: pick(row, c.channel) ?? delivery?.channel,
    metric,
    href: pick(row, c.href),
    ts,
    received_at: receivedAt,
    source: IMPORT_SOURCE,
  };
  for (const field of SOURCE_IDS) out[field] = delivery?.[field];
  return out;
}

/** Does this Metrics row name its person itself, or does it need its delivery? */
export function metricNeedsDelivery(row: Row, config: CustomerIoImportConfig): boolean {
  const c = config.metrics.columns;
  return (
    (pick(row, c.cio_id) === undefined && pick(row, c.customer_id) === undefined) ||
    pick(row, c.channel) === undefined
  );
}

/**
 * A People row: the person's cio id (so messages keyed by it resolve) and, when Customer.io marks
 * the person deleted or suppressed, `deleted: true` — such people must leave every ad audience.
 */
export function personRecord(row: Row, config: CustomerIoImportConfig, fallbackTs: string): Loose {
  const c = config.people.columns;
  const deleted = toBoolean(pick(row, c.deleted));
  const suppressed = toBoolean(pick(row, c.suppressed));
  const out: Loose = {
    customer_id: pick(row, c.customer_id),
    cio_id: pick(row, c.cio_id),
    email: pick(row, c.email),
    ts: pick(row, c.ts) ?? fallbackTs,
  };
  if (deleted !== undefined || suppressed !== undefined)
    out.deleted = deleted === true || suppressed === true;
  return out;
}
