import { hash } from 'node:crypto';
import { createEventNameNormalizer } from '../contract/event-name.js';
import { PERSON_SCALAR_FIELDS } from '../contract/records.js';
import type { Rejection } from '../contract/rejection.js';
import { checkEvent } from '../contract/validate.js';
import {
  type BufferItem,
  compact,
  firstPresent,
  isObject,
  type Loose,
  MAX_DEDUPE_ID,
  present,
} from './items.js';
import { setOwn } from './json-limits.js';
import { type CheckContext, checkerFor, validateRecord } from './validate-record.js';

/**
 * `POST /v1/track` and `POST /v1/identify` items (Customer.io Track-API shapes, plus the Segment
 * spellings `messageId`, `userId`, `anonymousId`, `event`, `properties` that senders often use).
 * Each item is checked against the data contract here, once: the sender gets a per-item answer,
 * rejected items are refused (and reported, never stored), accepted items are buffered as
 * canonical lines, with a quarantine line naming any field that had to be dropped.
 */

const TRACK_SOURCE = 'track';
const IDENTIFY_SOURCE = 'identify';

export type ItemOutcome =
  | { ok: true; item: BufferItem; id?: string; problems: Rejection[] }
  | { ok: false; problems: Rejection[] };

/** Track `type: page | screen` events carry a URL / screen name as `name`: keep it as a property. */
const VIEW_TYPES: Readonly<Record<string, { name: string; property: string }>> = {
  page: { name: 'page_viewed', property: 'page' },
  screen: { name: 'screen_viewed', property: 'screen' },
};

/** Maps field spellings; `received_at` and `source` are stamped by the check. */
export function mapTrackItem(input: Loose, receivedAt: string): Loose {
  const rawName = firstPresent(input.name, input.event);
  let properties = firstPresent(input.data, input.properties);
  let name = rawName;
  // Own keys only: `type: "constructor"` must not find Object's constructor on the prototype.
  const view =
    typeof input.type === 'string' && Object.hasOwn(VIEW_TYPES, input.type)
      ? VIEW_TYPES[input.type]
      : undefined;
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
  });
}

export type ItemChecker = (input: unknown, receivedAt: string) => ItemOutcome;

export interface CheckerSettings {
  /** `event_aliases` from the YAML (`purchase` → `order_completed`). */
  eventAliases?: Readonly<Record<string, string>>;
}

export function createTrackChecker(settings: CheckerSettings = {}): ItemChecker {
  const normalizeName = createEventNameNormalizer(settings.eventAliases ?? {});
  return (input, receivedAt) => {
    if (!isObject(input)) return notAnObject();
    const loose = mapTrackItem(input, receivedAt);
    const context: CheckContext = { normalizeName, receivedAt, source: TRACK_SOURCE };
    const checked = validateRecord('events', (l) => checkEvent(l, context), loose, {
      received_at: receivedAt,
      source: TRACK_SOURCE,
    });
    if (!checked.record) return { ok: false, problems: checked.problems };
    const id = checked.record.id;
    const item: BufferItem = { lines: checked.lines };
    if (id.length <= MAX_DEDUPE_ID) item.dedupeId = `e:${id}`;
    return { ok: true, item, id, problems: checked.problems };
  };
}

/** Person fields an identify may carry at the top level; anything else is an attribute. */
const PERSON_FIELDS = PERSON_SCALAR_FIELDS;
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
    setOwn(attributes, key, value);
  }
  if (Object.keys(attributes).length > 0) out.attributes = attributes;
  return compact(out);
}

const checkPerson = checkerFor('people');

export function createIdentifyChecker(): ItemChecker {
  return (input, receivedAt) => {
    if (!isObject(input)) return notAnObject();
    const loose = mapIdentifyItem(input, receivedAt);
    const checked = validateRecord('people', checkPerson, loose, {
      received_at: receivedAt,
      source: IDENTIFY_SOURCE,
    });
    if (!checked.record) return { ok: false, problems: checked.problems };
    // Identify has no event id; a digest of the update makes a re-sent identify a duplicate.
    const digest = hash('sha256', JSON.stringify(loose)).slice(0, 32);
    return { ok: true, item: { dedupeId: `p:${digest}`, lines: checked.lines }, problems: checked.problems };
  };
}

function notAnObject(): ItemOutcome {
  return { ok: false, problems: [{ code: 'not_an_object', path: '', message: 'item is not a JSON object' }] };
}
