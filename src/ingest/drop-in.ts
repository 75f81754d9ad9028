import { hash } from 'node:crypto';
import type { Dataset } from '../contract/records.js';
import type { Rejection } from '../contract/rejection.js';
import { looseSubject, type RecordSubject } from '../privacy/suppression-check.js';
import { type BufferedLine, type BufferItem, isObject, type Loose, MAX_DEDUPE_ID } from './items.js';
import { type CheckerSettings, createTrackChecker, type ItemOutcome, mapIdentifyItem } from './track.js';
import { checkerFor, dayOf, type QuarantineLine, validateRecord } from './validate-record.js';

/**
 * The one checker behind the drop-in APIs (Customer.io Track API, Segment spec). Their mappers turn
 * a request into a `DropInMessage`: an event and/or a person update in the shapes `/v1/track` and
 * `/v1/identify` already accept, so every door into the store decides the same way.
 *
 * Drop-in senders are SDKs that do not read per-item answers, so a rejected message is also
 * returned as a quarantine item: the route buffers it, and the rejection stays visible.
 */

export interface DropInMessage {
  /** Which record decides acceptance; the other one (traits riding on a track call) is optional. */
  primary: 'event' | 'person';
  /** A `/v1/track` item (`id`, `customer_id` | `email` | `anonymous_id`, `name`, `data`, `timestamp`). */
  event?: Loose;
  /** A `/v1/identify` item (`customer_id`, person fields, `attributes`, `timestamp`). */
  person?: Loose;
  /** Alias: the earlier identity that the person snapshot folds into `person.customer_id`. */
  mergedFrom?: string;
  /** The sender's message id (Segment `messageId`) for person updates; events use their own `id`. */
  messageId?: string;
  /** Recorded with quarantine lines. */
  source: string;
  /** A problem found while mapping (unsupported type, ...): the message is rejected with it. */
  problem?: Rejection;
}

export type DropInOutcome = ItemOutcome & { quarantine?: BufferItem };
export type DropInChecker = (message: DropInMessage, receivedAt: string) => DropInOutcome;

const checkPerson = checkerFor('people');

export function createDropInChecker(settings: CheckerSettings = {}): DropInChecker {
  const checkTrack = createTrackChecker(settings);
  return (message, receivedAt) => {
    const dataset: Dataset = message.primary === 'event' ? 'events' : 'people';
    if (message.problem) return rejected(dataset, message, [message.problem], receivedAt);
    if (message.primary === 'event') {
      const outcome = checkTrack(message.event, receivedAt);
      if (!outcome.ok) return rejected(dataset, message, outcome.problems, receivedAt);
      // Traits riding on an event update the person too; without a person key they cannot.
      const person = message.person ? personLines(message, receivedAt) : undefined;
      if (person?.record) outcome.item.lines.push(...person.lines);
      return outcome;
    }
    const person = personLines(message, receivedAt);
    if (!person?.record) return rejected(dataset, message, person?.problems ?? [], receivedAt);
    const dedupeId = message.messageId
      ? `pm:${message.messageId}`
      : `p:${hash('sha256', JSON.stringify([person.loose, message.mergedFrom ?? null])).slice(0, 32)}`;
    const item: BufferItem = { lines: person.lines };
    if (dedupeId.length <= MAX_DEDUPE_ID) item.dedupeId = dedupeId;
    return { ok: true, item, problems: person.problems };
  };
}

function personLines(message: DropInMessage, receivedAt: string) {
  if (!isObject(message.person)) return undefined;
  const loose = mapIdentifyItem(message.person, receivedAt);
  const checked = validateRecord('people', checkPerson, loose, {
    received_at: receivedAt,
    source: message.source,
  });
  let lines: BufferedLine[] = checked.lines;
  if (checked.record && message.mergedFrom !== undefined) {
    // `merged_from` is not a profile field, so it is added after the contract check (see
    // src/people/merge.ts: the snapshot folds the earlier identity into this person).
    const json = JSON.stringify({ ...checked.record, merged_from: message.mergedFrom });
    const subject = { ...checked.record, merged_from: message.mergedFrom };
    lines = lines.map((l) => (l.kind === 'r' ? { ...l, json, subject } : l));
  }
  return { record: checked.record, problems: checked.problems, lines, loose };
}

function rejected(
  dataset: Dataset,
  message: DropInMessage,
  problems: Rejection[],
  receivedAt: string,
): DropInOutcome {
  const input = dataset === 'events' ? message.event : message.person;
  const line: QuarantineLine = {
    dataset,
    rejected: true,
    reasons: problems,
    record: input ?? null,
    received_at: receivedAt,
    source: message.source,
  };
  const day = dayOf({ received_at: receivedAt });
  return {
    ok: false,
    problems,
    quarantine: {
      lines: [{ dataset, kind: 'q', day, json: JSON.stringify(line), subject: subjectOf(message) }],
    },
  };
}

/**
 * Who a rejected message is about, for the erased-people check of its quarantine line: the person
 * update's identifiers over the event's, in whichever spelling the sender used.
 */
function subjectOf(message: DropInMessage): RecordSubject {
  const person = isObject(message.person) ? looseSubject(message.person) : {};
  const event = isObject(message.event) ? looseSubject(message.event) : {};
  return {
    customer_id: person.customer_id ?? event.customer_id,
    email: person.email ?? event.email,
    phone: person.phone ?? event.phone,
    country: person.country ?? event.country,
    merged_from: message.mergedFrom ?? person.merged_from ?? event.merged_from,
  };
}

/** Rejection messages for an API error body: paths and reasons only, never the values. */
export function describeProblems(problems: readonly Rejection[]): string[] {
  return problems.map((p) => p.message);
}
