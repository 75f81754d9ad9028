import type { Dataset } from '../contract/records.js';
import {
  type BufferItem,
  compact,
  firstPresent,
  isObject,
  type Loose,
  MAX_DEDUPE_ID,
  present,
} from './items.js';
import { checkerFor, validateRecord } from './validate-record.js';

/**
 * Customer.io reporting webhooks → canonical loose records (docs/records.md, "message").
 *
 * Every `object_type` / `metric` pair becomes a `message` record, including metrics we do not know
 * yet: Customer.io adds metrics over time and dropping them would lose data silently. A `customer`
 * subscribed / unsubscribed event is also a `person` update, so `never_send` rules on
 * `person: { unsubscribed: true }` see it without joining message history.
 */

const WEBHOOK_SOURCE = 'customerio_webhook';

/** Source ids Customer.io puts in `data`, copied under the same names. */
const SOURCE_FIELDS = [
  'delivery_id',
  'campaign_id',
  'broadcast_id',
  'newsletter_id',
  'journey_id',
  'action_id',
  'transactional_message_id',
] as const;

/** Metrics of the `customer` object type that change the person's subscription state. */
const SUBSCRIPTION_METRICS: Readonly<Record<string, boolean>> = { subscribed: false, unsubscribed: true };

export interface MappedWebhook {
  dedupeId?: string;
  records: { dataset: Dataset; record: Loose }[];
}

const checkMessage = checkerFor('messages');
const checkPerson = checkerFor('people');

/**
 * The buffer item of one webhook. It is accepted (2xx) even when its records break the contract:
 * Customer.io would otherwise retry it for days. Such records are quarantined with their reasons.
 */
export function webhookItem(payload: Loose, receivedAt: string): BufferItem {
  const mapped = mapCioWebhook(payload, receivedAt);
  const origin = { received_at: receivedAt, source: WEBHOOK_SOURCE };
  const item: BufferItem = { lines: [] };
  if (mapped.dedupeId !== undefined) item.dedupeId = mapped.dedupeId;
  for (const { dataset, record } of mapped.records) {
    const check = dataset === 'people' ? checkPerson : checkMessage;
    item.lines.push(...validateRecord(dataset, check, record, origin).lines);
  }
  return item;
}

export function mapCioWebhook(payload: Loose, receivedAt: string): MappedWebhook {
  const data = isObject(payload.data) ? payload.data : {};
  const identifiers = isObject(data.identifiers) ? data.identifiers : {};
  const channel =
    typeof payload.object_type === 'string' ? payload.object_type.trim().toLowerCase() : undefined;
  const metric = typeof payload.metric === 'string' ? payload.metric.trim().toLowerCase() : undefined;
  // `data.customer_id` is deprecated and blank for deleted people: `identifiers.id` wins.
  const customerId = firstPresent(identifiers.id, data.customer_id);
  const email = firstPresent(identifiers.email, channel === 'customer' ? data.email_address : undefined);
  const message: Loose = {
    id: payload.event_id,
    customer_id: customerId,
    email,
    cio_id: identifiers.cio_id,
    channel: payload.object_type,
    metric: payload.metric,
    href: data.href,
    ts: payload.timestamp,
    received_at: receivedAt,
    source: WEBHOOK_SOURCE,
  };
  for (const field of SOURCE_FIELDS) message[field] = data[field];

  const item: MappedWebhook = { records: [{ dataset: 'messages', record: compact(message) }] };
  const eventId = payload.event_id;
  if (
    (typeof eventId === 'string' || typeof eventId === 'number') &&
    String(eventId).length <= MAX_DEDUPE_ID
  ) {
    item.dedupeId = `m:${String(eventId)}`;
  }

  // Own keys only: a metric named `constructor` or `__proto__` is not a subscription change.
  const unsubscribed =
    channel === 'customer' && metric && Object.hasOwn(SUBSCRIPTION_METRICS, metric)
      ? SUBSCRIPTION_METRICS[metric]
      : undefined;
  // A person update needs the person key; without one the message record still carries the change.
  if (unsubscribed !== undefined && present(customerId)) {
    item.records.push({
      dataset: 'people',
      record: compact({
        customer_id: customerId,
        cio_id: identifiers.cio_id,
        email: identifiers.email,
        unsubscribed,
        ts: payload.timestamp,
      }),
    });
  }
  return item;
}
