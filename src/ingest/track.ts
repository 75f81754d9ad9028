import { hash } from 'node:crypto';
import type { Rejection } from '../contract/rejection.js';
import { checkEvent, checkPerson } from '../contract/validate.js';
import {
  type BufferItem,
  compact,
  firstPresent,
  isObject,
  type Loose,
  MAX_DEDUPE_ID,
  present,
} from './items.js';

/**
 * `POST /v1/track` and `POST /v1/identify` items (Customer.io Track-API shapes, plus the Segment
 * spellings `messageId`, `userId`, `anonymousId`, `event`, `properties` that senders often use).
 * Each item is checked here so the caller gets a per-item answer; what is accepted is buffered
 * loose and checked again by the export, which quarantines dropped fields with their reasons.
 */

export const TRACK_SOURCE = 'track';
export const IDENTIFY_SOURCE = 'identify';

export type ItemOutcome =
  | { ok: true; item: BufferItem; id?: string; problems: Rejection[] }
  | { ok: false; problems: Rejection[] };

/** Track `type: page | screen` events carry a URL / screen name as `name`: keep it as a property. */
const VIEW_TYPES: Readonly<Record<string, { name: string; property: string }>> = {
  page: { name: 'page_viewed', property: 'page' },
  screen: { name: 'screen_viewed', property: 'screen' },
};

export function mapTrackItem(input: Loose, receivedAt: string): Loose {
  const rawName = firstPresent(input.name, input.event);
  let properties = firstPresent(input.data, input.properties);
  let name = rawName;
  const view = typeof input.type === 'string' ? VIEW_TYPES[input.type] : undefined;
  if (view) {
    name = view.name;
    properties = { ...(isObject(properties) ? properties : {}), [view.property]: rawName };
  }
  return compact({
    id: firstPresent(input.id, input.messageId),
    customer_id: firstPresent(input.customer_id, input.userId, input.user_id),
    anonymous_id: firstPresent(input.anonymous_id, input.anonymousId),
    email: input.email,
    name,
    // Without a timestamp the event happened when it reached us.
    ts: firstPresent(input.timestamp, input.ts) ?? receivedAt,
    properties,
    received_at: receivedAt,
    source: TRACK_SOURCE,
  });
}

export function checkTrackItem(input: unknown, receivedAt: string): ItemOutcome {
  if (!isObject(input)) return notAnObject();
  const loose = mapTrackItem(input, receivedAt);
  const { record, problems } = checkEvent(loose, { receivedAt, source: TRACK_SOURCE });
  if (!record) return { ok: false, problems };
  // The checked id (the sender's, or derived from the content) is what the export will use too.
  loose.id = record.id;
  const item: BufferItem = { records: [{ dataset: 'events', record: loose }] };
  if (record.id.length <= MAX_DEDUPE_ID) item.dedupeId = `e:${record.id}`;
  return { ok: true, item, id: record.id, problems };
}

/** Person fields an identify may carry at the top level; anything else is an attribute. */
const PERSON_FIELDS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'city',
  'region',
  'postal_code',
  'country',
  'maid',
  'cio_id',
  'unsubscribed',
  'deleted',
] as const;
/** Keys that address or time the identify itself, never attributes. */
const ENVELOPE_FIELDS = new Set([
  'customer_id',
  'id',
  'userId',
  'timestamp',
  '_timestamp',
  'ts',
  'type',
  'action',
]);
const CONSENT_KEYS = ['ad_user_data', 'ad_personalization'] as const;

export function mapIdentifyItem(input: Loose, receivedAt: string): Loose {
  const attributes: Loose = isObject(input.attributes) ? { ...input.attributes } : {};
  const out: Loose = {
    customer_id: firstPresent(input.customer_id, input.id, input.userId),
    ts: firstPresent(input.timestamp, input._timestamp, input.ts) ?? receivedAt,
  };
  for (const field of PERSON_FIELDS) out[field] = firstPresent(input[field], attributes[field]);
  for (const field of PERSON_FIELDS) delete attributes[field];
  // Consent arrives as `consent: {...}`, as `attributes.consent`, or flattened `consent.ad_user_data`.
  const consent: Loose = {
    ...(isObject(attributes.consent) ? attributes.consent : {}),
    ...(isObject(input.consent) ? input.consent : {}),
  };
  delete attributes.consent;
  for (const key of CONSENT_KEYS) {
    const flat = firstPresent(input[`consent.${key}`], attributes[`consent.${key}`]);
    delete attributes[`consent.${key}`];
    if (present(flat)) consent[key] = flat;
  }
  if (Object.keys(consent).length > 0) out.consent = consent;
  else if (present(input.consent)) out.consent = input.consent; // malformed: let the check report it
  for (const [key, value] of Object.entries(input)) {
    if (ENVELOPE_FIELDS.has(key) || key === 'attributes' || key === 'consent' || key.startsWith('consent.'))
      continue;
    if ((PERSON_FIELDS as readonly string[]).includes(key)) continue;
    attributes[key] = value;
  }
  if (Object.keys(attributes).length > 0) out.attributes = attributes;
  return compact(out);
}

export function checkIdentifyItem(input: unknown, receivedAt: string): ItemOutcome {
  if (!isObject(input)) return notAnObject();
  const loose = mapIdentifyItem(input, receivedAt);
  const { record, problems } = checkPerson(loose);
  if (!record) return { ok: false, problems };
  // Identify has no event id; a digest of the update makes a re-sent identify a duplicate.
  const digest = hash('sha256', JSON.stringify(loose)).slice(0, 32);
  return {
    ok: true,
    item: { dedupeId: `p:${digest}`, records: [{ dataset: 'people', record: loose }] },
    problems,
  };
}

function notAnObject(): ItemOutcome {
  return { ok: false, problems: [{ code: 'not_an_object', path: '', message: 'item is not a JSON object' }] };
}
