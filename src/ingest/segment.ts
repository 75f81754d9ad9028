import { rejection } from '../contract/rejection.js';
import { canonicalTimestamp } from '../contract/timestamp.js';
import type { DropInMessage } from './drop-in.js';
import { compact, firstPresent, isObject, type Loose, present } from './items.js';

/**
 * Segment-spec messages (Customer.io Data Pipelines speaks the same spec) as drop-in messages.
 * Pure mapping: the routes authenticate, inflate and buffer.
 *
 * - `track` → an event named by `event`; `page` / `screen` → `page_viewed` / `screen_viewed` with
 *   the page or screen name as a property (like Track API `type: page | screen`); `group` → a
 *   `group` event carrying `group_id` and the group's traits.
 * - `identify` → a person update from `traits` (over `context.traits`); on every other call
 *   `context.traits` that name a known person (`userId`) become a person update too.
 * - `alias` → a person update on `userId` with `merged_from: previousId`, folded by the snapshot.
 * - `messageId` is the event id (de-duplication); `userId` is the `customer_id`.
 */

const SEGMENT_SOURCE = 'segment';
export const SEGMENT_TYPES = ['track', 'identify', 'page', 'screen', 'group', 'alias'] as const;
export type SegmentType = (typeof SEGMENT_TYPES)[number];

/** Keys only Segment messages carry; `/v1/track` and `/v1/identify` dispatch on them. */
const SEGMENT_KEYS = [
  'userId',
  'anonymousId',
  'messageId',
  'traits',
  'context',
  'sentAt',
  'originalTimestamp',
];
/** Keys of the project's own `/v1/track` and `/v1/identify` shapes. */
const OWN_KEYS = ['customer_id', 'anonymous_id', 'name', 'data', 'attributes', 'batch', 'id', 'email'];

/**
 * True for a Segment-spec body: it has a Segment key and none of the keys the project's own shapes
 * use (those already accepted `userId` / `event` spellings, and keep answering as they did).
 */
export function isSegmentBody(body: unknown): boolean {
  if (!isObject(body)) return false;
  if (OWN_KEYS.some((k) => k in body)) return false;
  return SEGMENT_KEYS.some((k) => k in body);
}

/**
 * The event time, corrected for the sender's clock skew the way the Segment spec describes:
 * with `originalTimestamp` and `sentAt` (the message's or the batch's), `receivedAt − (sentAt −
 * originalTimestamp)`; otherwise a `timestamp` the sender set (historical imports use it as is);
 * otherwise `originalTimestamp`; otherwise the time it reached us. An unusable value is passed on
 * for the contract check to reject by name.
 */
export function correctedTimestamp(message: Loose, batchSentAt: unknown, receivedAt: string): unknown {
  const original = message.originalTimestamp;
  const sentAt = firstPresent(message.sentAt, batchSentAt);
  if (present(original) && present(sentAt)) {
    const o = canonicalTimestamp(original, 'originalTimestamp');
    const s = canonicalTimestamp(sentAt, 'sentAt');
    if (o.ok && s.ok) {
      const skew = Date.parse(s.value) - Date.parse(o.value);
      return new Date(Date.parse(receivedAt) - skew).toISOString();
    }
    if (!o.ok) return original;
  }
  return firstPresent(message.timestamp, original) ?? receivedAt;
}

/** Identity fields Segment's spec names in traits, in our person-field spelling. */
export function traitsToPerson(traits: Loose): Loose {
  const rest: Loose = { ...traits };
  const address = isObject(traits.address) ? traits.address : {};
  const take = (...keys: string[]) => {
    const value = firstPresent(...keys.map((k) => traits[k]));
    for (const k of keys) delete rest[k];
    return value;
  };
  let first = take('firstName', 'first_name');
  let last = take('lastName', 'last_name');
  const name = take('name');
  if (typeof name === 'string' && name.trim() !== '' && !present(first) && !present(last)) {
    // "Ada Lovelace" → first "Ada", last "Lovelace"; a single word is a first name.
    const parts = name.trim().split(/\s+/);
    first = parts[0];
    last = parts.length > 1 ? parts.slice(1).join(' ') : undefined;
  } else if (present(name)) {
    rest.name = name;
  }
  delete rest.address;
  const person = compact({
    email: take('email'),
    phone: take('phone'),
    first_name: first,
    last_name: last,
    city: firstPresent(address.city, take('city')),
    region: firstPresent(address.state, address.region, take('state', 'region')),
    postal_code: firstPresent(address.postalCode, address.postal_code, take('postalCode', 'postal_code')),
    country: firstPresent(address.country, take('country')),
  });
  if (isObject(traits.address)) {
    const street = firstPresent(address.street);
    if (present(street)) rest.street = street;
  }
  // Consent in any spelling is sorted out by the identify mapping; everything else is an attribute.
  return { ...rest, ...person };
}

export interface SegmentContext {
  /** The endpoint's type (`/v1/track`), or undefined for `/v1/batch` (each message names its own). */
  type?: SegmentType;
  /** `sentAt` of the batch envelope. */
  sentAt?: unknown;
  receivedAt: string;
}

export function segmentMessage(input: unknown, context: SegmentContext): DropInMessage {
  const message: Loose = isObject(input) ? input : {};
  const type = (context.type ??
    (typeof message.type === 'string' ? message.type.toLowerCase() : '')) as SegmentType;
  const userId = idValue(message.userId);
  const anonymousId = idValue(message.anonymousId);
  const messageId = idValue(message.messageId);
  const timestamp = correctedTimestamp(message, context.sentAt, context.receivedAt);
  const contextTraits =
    isObject(message.context) && isObject(message.context.traits) ? message.context.traits : {};
  const base = { source: SEGMENT_SOURCE, ...(messageId ? { messageId } : {}) };
  if (!isObject(input)) {
    return {
      ...base,
      primary: 'event',
      event: {},
      problem: rejection('not_an_object', '', 'message is not a JSON object'),
    };
  }
  if (!(SEGMENT_TYPES as readonly string[]).includes(type)) {
    return {
      ...base,
      primary: 'event',
      event: message,
      problem: rejection('bad_value', 'type', `type is not one of ${SEGMENT_TYPES.join(', ')}`),
    };
  }

  const personFrom = (traits: Loose): Loose | undefined =>
    userId && Object.keys(traits).length > 0
      ? { ...traitsToPerson(traits), customer_id: userId, timestamp }
      : undefined;

  if (type === 'identify') {
    const traits = { ...contextTraits, ...(isObject(message.traits) ? message.traits : {}) };
    return {
      ...base,
      primary: 'person',
      person: { ...traitsToPerson(traits), customer_id: userId, timestamp },
    };
  }
  if (type === 'alias') {
    const previousId = idValue(message.previousId);
    if (!previousId) {
      return {
        ...base,
        primary: 'person',
        person: message,
        problem: rejection('missing_person_key', 'previousId', 'alias has no previousId'),
      };
    }
    return { ...base, primary: 'person', person: { customer_id: userId, timestamp }, mergedFrom: previousId };
  }

  const properties = isObject(message.properties) ? message.properties : {};
  const event: Loose = {
    id: messageId,
    customer_id: userId,
    anonymous_id: anonymousId,
    email: firstPresent(contextTraits.email, isObject(message.traits) ? message.traits.email : undefined),
    timestamp,
  };
  if (type === 'track') {
    event.name = message.event;
    event.data = properties;
  } else if (type === 'page' || type === 'screen') {
    // The Track API's view events: `name` becomes the `page` / `screen` property.
    event.type = type;
    event.name = firstPresent(message.name, properties.name);
    event.data = { ...properties, ...(present(message.category) ? { category: message.category } : {}) };
  } else {
    event.name = 'group';
    event.data = { group_id: message.groupId, traits: isObject(message.traits) ? message.traits : {} };
  }
  const person = personFrom(contextTraits);
  return { ...base, primary: 'event', event: compact(event), ...(person ? { person } : {}) };
}

function idValue(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  return undefined;
}
