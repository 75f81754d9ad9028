import { hash } from 'node:crypto';
import type { z } from 'zod';
import { snakeCaseEventName } from './event-name.js';
import { cleanCountry, cleanEmail, cleanPhone } from './identifiers.js';
import {
  type EventRecord,
  eventRecord,
  LIMITS,
  type MemberRecord,
  type MessageRecord,
  memberRecord,
  messageRecord,
  type PersonRecord,
  personRecord,
} from './records.js';
import { type ReasonCode, type Rejection, rejection } from './rejection.js';
import { canonicalTimestamp } from './timestamp.js';

/**
 * Turns loose input (already mapped to canonical field names by ingest or import) into a canonical
 * record. Policy (docs/records.md, "The person key, and bad input"): a bad field is dropped and reported, the rest is kept; the record
 * is rejected only without a person key, a name / metric, or a usable timestamp.
 */
export interface Checked<T> {
  /** `null` when the record as a whole is rejected. */
  record: T | null;
  /** Every problem found: dropped fields and, when `record` is null, the reason for rejection. */
  problems: Rejection[];
}

export interface CheckOptions {
  /** Event-name normalizer with the configured aliases; plain snake_case without one. */
  normalizeName?: (raw: string) => string;
  /** Stamped when the input carries none. */
  receivedAt?: string;
  source?: string;
}

type Loose = Record<string, unknown>;

export function checkEvent(input: unknown, options: CheckOptions = {}): Checked<EventRecord> {
  const problems: Rejection[] = [];
  if (!isObject(input)) return reject('not_an_object', '', 'record is not a JSON object');
  const out: Loose = {};
  const shape = eventRecord.shape;
  keepId(out, input, 'customer_id', problems);
  keepId(out, input, 'anonymous_id', problems);
  keepFields(out, input, shape, ['source'], problems, { coerceIds: true });
  cleanEmailField(out, input, problems);
  if (out.customer_id === undefined && out.anonymous_id === undefined && out.email === undefined) {
    return reject(
      'missing_person_key',
      'customer_id',
      'event has no customer_id, anonymous_id or email',
      problems,
    );
  }
  const rawName = typeof input.raw_name === 'string' ? input.raw_name : input.name;
  if (typeof rawName !== 'string' || rawName.trim() === '') {
    return reject('missing_name', 'name', 'event has no name', problems);
  }
  if (rawName.length > LIMITS.name)
    return reject('too_long', 'name', `name is longer than ${LIMITS.name} characters`, problems);
  const name = (options.normalizeName ?? snakeCaseEventName)(rawName);
  if (name === '') return reject('missing_name', 'name', 'event name has no letters or digits', problems);
  if (name.length > LIMITS.name)
    return reject('too_long', 'name', `name is longer than ${LIMITS.name} characters`, problems);
  const ts = canonicalTimestamp(input.ts, 'ts');
  if (!ts.ok) return reject(ts.error.code, ts.error.path, ts.error.message, problems);
  out.raw_name = rawName;
  out.name = name;
  out.ts = ts.value;
  out.received_at = receivedAt(input, options, problems);
  out.source ??= options.source ?? 'unknown';
  out.properties = bagField(input.properties, 'properties', problems) ?? {};
  out.id = idOrDerived(input, out, problems);
  // Every field above was checked on its own; parsing the whole record again would only cost time
  // on the hottest path of ingest (the contract test suite holds the shape to the schema).
  return { record: out as EventRecord, problems };
}

export function checkMessage(input: unknown, options: CheckOptions = {}): Checked<MessageRecord> {
  const problems: Rejection[] = [];
  if (!isObject(input)) return reject('not_an_object', '', 'record is not a JSON object');
  const out: Loose = {};
  const shape = messageRecord.shape;
  const idFields = [
    'id',
    'customer_id',
    'cio_id',
    'delivery_id',
    'campaign_id',
    'broadcast_id',
    'newsletter_id',
    'journey_id',
    'action_id',
    'transactional_message_id',
  ] as const;
  keepFields(out, input, shape, idFields, problems, { coerceIds: true });
  keepFields(out, input, shape, ['href', 'source'], problems);
  cleanEmailField(out, input, problems);
  if (out.id === undefined)
    return reject('missing_id', 'id', 'message has no usable id (event_id)', problems);
  if (out.customer_id === undefined && out.email === undefined && out.cio_id === undefined) {
    return reject(
      'missing_person_key',
      'customer_id',
      'message has no customer_id, email or cio_id',
      problems,
    );
  }
  const channel = lowerToken(input.channel);
  if (!channel) return reject('missing_metric', 'channel', 'message has no channel (object_type)', problems);
  const metric = lowerToken(input.metric);
  if (!metric) return reject('missing_metric', 'metric', 'message has no metric', problems);
  const ts = canonicalTimestamp(input.ts, 'ts');
  if (!ts.ok) return reject(ts.error.code, ts.error.path, ts.error.message, problems);
  out.channel = channel;
  out.metric = metric;
  out.ts = ts.value;
  out.received_at = receivedAt(input, options, problems);
  out.source ??= options.source ?? 'unknown';
  const checked = messageRecord.safeParse(out);
  if (!checked.success)
    return reject('bad_value', pathOf(checked.error), 'message does not fit the contract', problems);
  return { record: checked.data, problems };
}

export function checkPerson(input: unknown): Checked<PersonRecord> {
  const problems: Rejection[] = [];
  if (!isObject(input)) return reject('not_an_object', '', 'record is not a JSON object');
  const out: Loose = {};
  const shape = personRecord.shape;
  keepFields(out, input, shape, ['customer_id', 'cio_id'], problems, { coerceIds: true });
  if (out.customer_id === undefined) {
    return reject('missing_person_key', 'customer_id', 'person update has no customer_id', problems);
  }
  const ts = canonicalTimestamp(input.ts, 'ts');
  if (!ts.ok) return reject(ts.error.code, ts.error.path, ts.error.message, problems);
  out.ts = ts.value;
  cleanEmailField(out, input, problems);
  if (present(input.country)) {
    const country = cleanCountry(input.country);
    if (country) out.country = country;
    else
      problems.push(
        rejection('bad_country', 'country', 'country is not an ISO-3166 code or a known country name'),
      );
  }
  if (present(input.phone)) {
    const phone = cleanPhone(input.phone, out.country as string | undefined);
    if (phone) out.phone = phone;
    else
      problems.push(
        rejection('bad_phone', 'phone', 'phone is not a possible number (with the country as region)'),
      );
  }
  keepFields(
    out,
    input,
    shape,
    ['first_name', 'last_name', 'city', 'region', 'postal_code', 'maid'],
    problems,
    {
      trim: true,
    },
  );
  for (const flag of ['unsubscribed', 'deleted'] as const) {
    if (!present(input[flag])) continue;
    const value = toBoolean(input[flag]);
    if (value === undefined) problems.push(rejection('bad_type', flag, `${flag} is not a boolean`));
    else out[flag] = value;
  }
  if (present(input.consent)) {
    const consent = consentField(input.consent, problems);
    if (consent) out.consent = consent;
  }
  const attributes = bagField(input.attributes, 'attributes', problems);
  if (attributes) out.attributes = attributes;
  return { record: personRecord.parse(out), problems };
}

export function checkMember(input: unknown): Checked<MemberRecord> {
  const parsed = memberRecord.safeParse(input);
  if (parsed.success) return { record: parsed.data, problems: [] };
  const issue = parsed.error.issues[0];
  return reject('bad_value', pathOf(parsed.error), `member ${issue?.path.join('.') || 'record'} is invalid`);
}

// --- helpers -----------------------------------------------------------------------------------

function reject<T>(code: ReasonCode, path: string, message: string, problems: Rejection[] = []): Checked<T> {
  return { record: null, problems: [...problems, rejection(code, path, message)] };
}

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function pathOf(error: z.ZodError): string {
  return error.issues[0]?.path.join('.') ?? '';
}

/** Copies fields that pass their schema; reports the others without echoing their values. */
function keepFields(
  out: Loose,
  input: Loose,
  shape: Record<string, z.ZodType>,
  fields: readonly string[],
  problems: Rejection[],
  opts: { coerceIds?: boolean; trim?: boolean } = {},
): void {
  for (const field of fields) {
    let value = input[field];
    if (!present(value)) continue;
    if (opts.coerceIds && typeof value === 'number' && Number.isFinite(value)) value = String(value);
    if ((opts.trim || opts.coerceIds) && typeof value === 'string') value = value.trim();
    if (value === '') continue;
    const schema = shape[field];
    if (!schema) continue;
    const parsed = schema.safeParse(value);
    if (parsed.success) out[field] = parsed.data;
    else problems.push(fieldProblem(field, parsed.error));
  }
}

/** An id-like field (string or number, at most `LIMITS.id` characters), without zod on the hot path. */
function keepId(out: Loose, input: Loose, field: string, problems: Rejection[]): void {
  let value = input[field];
  if (!present(value)) return;
  if (typeof value === 'number' && Number.isFinite(value)) value = String(value);
  if (typeof value !== 'string') {
    problems.push(rejection('bad_type', field, `${field} has the wrong type`));
    return;
  }
  const trimmed = value.trim();
  if (trimmed === '') return;
  if (trimmed.length > LIMITS.id) problems.push(rejection('too_long', field, `${field} is too long`));
  else out[field] = trimmed;
}

function fieldProblem(field: string, error: z.ZodError): Rejection {
  const issue = error.issues[0];
  if (issue?.code === 'too_big') return rejection('too_long', field, `${field} is too long`);
  if (issue?.code === 'invalid_type') return rejection('bad_type', field, `${field} has the wrong type`);
  return rejection('bad_value', field, `${field} is not valid`);
}

function cleanEmailField(out: Loose, input: Loose, problems: Rejection[]): void {
  if (!present(input.email)) return;
  const email = cleanEmail(input.email);
  if (email) out.email = email;
  else problems.push(rejection('bad_email', 'email', 'email is not a valid address'));
}

function receivedAt(input: Loose, options: CheckOptions, problems: Rejection[]): string {
  if (present(input.received_at)) {
    const ts = canonicalTimestamp(input.received_at, 'received_at');
    if (ts.ok) return ts.value;
    problems.push(ts.error);
  }
  return options.receivedAt ?? new Date().toISOString();
}

function bagField(value: unknown, field: string, problems: Rejection[]): Loose | undefined {
  if (!present(value)) return undefined;
  if (!isObject(value)) {
    problems.push(rejection('bad_type', field, `${field} is not an object`));
    return undefined;
  }
  // Serialized size is the only honest measure of a nested bag.
  if (JSON.stringify(value).length > LIMITS.bag) {
    problems.push(rejection('too_long', field, `${field} is larger than ${LIMITS.bag} bytes`));
    return undefined;
  }
  return value;
}

function lowerToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const s = value.trim().toLowerCase();
  return s.length > 0 && s.length <= 64 ? s : undefined;
}

function toBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1 || value === '1') return true;
  if (value === 'false' || value === 0 || value === '0') return false;
  return undefined;
}

function consentField(value: unknown, problems: Rejection[]): PersonRecord['consent'] | undefined {
  if (!isObject(value)) {
    problems.push(rejection('bad_type', 'consent', 'consent is not an object'));
    return undefined;
  }
  const out: NonNullable<PersonRecord['consent']> = {};
  for (const key of ['ad_user_data', 'ad_personalization'] as const) {
    const raw = value[key];
    if (!present(raw)) continue;
    const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (v === 'granted' || v === true) out[key] = 'granted';
    else if (v === 'denied' || v === false) out[key] = 'denied';
    else problems.push(rejection('bad_value', `consent.${key}`, `consent.${key} is not granted or denied`));
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The sender's id when valid, otherwise a digest of the content so re-sends of one event collide. */
function idOrDerived(input: Loose, out: Loose, problems: Rejection[]): string {
  let id = input.id;
  if (typeof id === 'number' && Number.isFinite(id)) id = String(id);
  if (typeof id === 'string' && id.trim() !== '') {
    if (id.length <= LIMITS.id) return id.trim();
    problems.push(rejection('too_long', 'id', 'id is too long; derived from the content instead'));
  } else if (present(id)) {
    problems.push(rejection('bad_type', 'id', 'id has the wrong type; derived from the content instead'));
  }
  const content = JSON.stringify([
    out.customer_id,
    out.anonymous_id,
    out.email,
    out.raw_name,
    out.ts,
    out.properties,
  ]);
  return `d_${hash('sha256', content).slice(0, 32)}`;
}
