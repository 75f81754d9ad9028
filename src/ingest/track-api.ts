import { hash } from 'node:crypto';
import { rejection } from '../contract/rejection.js';
import type { DropInMessage } from './drop-in.js';
import { firstPresent, isObject, type Loose, present } from './items.js';

/**
 * Customer.io Track API requests (v1 `/api/v1/...`, v2 `/api/v2/batch` and `/entity`) as drop-in
 * messages. Pure mapping: the routes authenticate and buffer.
 *
 * Addressing: `{identifier}` is a person id, an email, or `cio_<cio_id>`. Our person key is
 * `customer_id`, so
 * - an id is the `customer_id`;
 * - an email is stored as `email`, keyed by an `id` in the body when there is one, otherwise by the
 *   email itself (an email-first workspace knows the person only by it);
 * - `cio_<x>` is stored as `cio_id: x`, keyed by an `id` in the body, otherwise by the identifier
 *   as given (`cio_<x>`), so it is never silently dropped.
 */

const TRACK_API_SOURCE = 'track_api';

export interface PersonAddress {
  customer_id: string;
  email?: string;
  cio_id?: string;
}

const CIO_PREFIX = 'cio_';

/**
 * The person key of someone known only by an email (an email-first workspace): a pseudonym derived
 * from the normalized address, so every call about that email lands on one person, while the raw
 * address never becomes an id (ids travel into ledgers, run reports and logs; emails must not).
 */
export function emailPersonKey(email: string): string {
  return `email_${hash('sha256', email.trim().toLowerCase()).slice(0, 32)}`;
}

function addressOf(identifier: string, bodyId?: unknown): PersonAddress {
  const own =
    present(bodyId) && (typeof bodyId === 'string' || typeof bodyId === 'number') ? String(bodyId) : '';
  if (identifier.startsWith(CIO_PREFIX) && identifier.length > CIO_PREFIX.length) {
    return { customer_id: own || identifier, cio_id: identifier.slice(CIO_PREFIX.length) };
  }
  if (identifier.includes('@')) return { customer_id: own || emailPersonKey(identifier), email: identifier };
  return { customer_id: identifier };
}

/** `PUT /api/v1/customers/{identifier}`: attributes at the top level, `_timestamp`, `created_at`. */
export function identifyMessage(identifier: string, body: Loose): DropInMessage {
  const { _update, id, ...attributes } = body;
  const address = addressOf(identifier, id);
  // `_update: true` asks Customer.io not to create people; a snapshot update is an upsert either way.
  void _update;
  return {
    primary: 'person',
    source: TRACK_API_SOURCE,
    person: {
      ...attributes,
      customer_id: address.customer_id,
      email: firstPresent(attributes.email, address.email),
      cio_id: firstPresent(address.cio_id, attributes.cio_id),
    },
  };
}

export type PersonAction = 'delete' | 'suppress' | 'unsuppress';

/**
 * Deletion and suppression as person updates. Suppressing deletes the person in Customer.io and
 * keeps them from coming back, so for ad audiences it is a deletion (`never_send` on `deleted`);
 * `attributes.suppressed` keeps the difference visible.
 */
export function personActionMessage(
  identifier: string,
  action: PersonAction,
  receivedAt: string,
): DropInMessage {
  const address = addressOf(identifier);
  const update: Loose = { ...address, timestamp: receivedAt };
  if (action === 'delete') update.deleted = true;
  else update.attributes = { suppressed: action === 'suppress' };
  if (action === 'suppress') update.deleted = true;
  if (action === 'unsuppress') update.deleted = false;
  return { primary: 'person', source: TRACK_API_SOURCE, person: update };
}

/** `POST /api/v1/customers/{identifier}/events` (or anonymous `/api/v1/events` without one). */
export function eventMessage(identifier: string | undefined, body: Loose): DropInMessage {
  const event: Loose = {
    id: body.id,
    name: body.name,
    data: body.data,
    timestamp: body.timestamp,
    type: body.type,
  };
  if (identifier !== undefined) {
    const address = addressOf(identifier);
    event.customer_id = address.customer_id;
    if (address.email) event.email = address.email;
  } else {
    event.anonymous_id = body.anonymous_id;
  }
  return { primary: 'event', source: TRACK_API_SOURCE, event };
}

const V2_PERSON_ACTIONS = new Set([
  'identify',
  'delete',
  'suppress',
  'unsuppress',
  'event',
  'page',
  'screen',
]);

/**
 * One v2 entry (`/api/v2/entity`, or an element of `/api/v2/batch`):
 * `{type: "person", identifiers: {id | email | cio_id}, action, attributes?, name?, id?, timestamp?}`.
 * Objects, deliveries and relationship actions have no place in the canonical records: refused
 * with a reason rather than stored half-understood.
 */
export function v2EntryMessage(entry: unknown, receivedAt: string): DropInMessage {
  const refuse = (path: string, message: string): DropInMessage => ({
    primary: 'person',
    source: TRACK_API_SOURCE,
    person: isObject(entry) ? entry : {},
    problem: rejection('bad_value', path, message),
  });
  if (!isObject(entry)) {
    return {
      ...refuse('', 'entry is not a JSON object'),
      problem: rejection('not_an_object', '', 'entry is not a JSON object'),
    };
  }
  if (entry.type !== 'person') return refuse('type', 'only type "person" is supported');
  const action = typeof entry.action === 'string' ? entry.action : '';
  if (!V2_PERSON_ACTIONS.has(action)) return refuse('action', 'action is not supported for people');
  const identifier = v2Identifier(entry.identifiers);
  const attributes = isObject(entry.attributes) ? entry.attributes : {};
  if (action === 'event' || action === 'page' || action === 'screen') {
    const body: Loose = {
      id: entry.id,
      name: entry.name,
      data: attributes,
      timestamp: entry.timestamp,
      type: action === 'event' ? undefined : action,
      anonymous_id: entry.anonymous_id,
    };
    return eventMessage(identifier, body);
  }
  if (identifier === undefined) {
    return {
      ...refuse('identifiers', 'identifiers has no id, email or cio_id'),
      problem: rejection('missing_person_key', 'identifiers', 'identifiers has no id, email or cio_id'),
    };
  }
  if (action === 'identify') {
    return identifyMessage(identifier, {
      ...attributes,
      _timestamp: firstPresent(entry.timestamp, attributes._timestamp),
    });
  }
  return personActionMessage(identifier, action as PersonAction, receivedAt);
}

function v2Identifier(identifiers: unknown): string | undefined {
  if (!isObject(identifiers)) return undefined;
  const id = identifiers.id;
  if (typeof id === 'string' && id.trim() !== '') return id.trim();
  if (typeof id === 'number' && Number.isFinite(id)) return String(id);
  if (typeof identifiers.email === 'string' && identifiers.email.includes('@')) return identifiers.email;
  const cio = identifiers.cio_id;
  if ((typeof cio === 'string' && cio !== '') || typeof cio === 'number') return `${CIO_PREFIX}${cio}`;
  return undefined;
}
