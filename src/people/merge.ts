import { CANONICAL_TIMESTAMP, PERSON_SCALAR_FIELDS, type PersonRecord } from '../contract/records.js';

/**
 * Field-level merge of partial person updates (docs/records.md, "person": updates are partial;
 * the snapshot keeps the latest value of each field by ts).
 *
 * A person is kept flat while merging — `email`, `consent.ad_user_data`, `attributes.plan` — each
 * with the `ts` of the update that set it. The per-field time is what makes incremental folding
 * correct: a late part holding an older email must not overwrite a newer one already in the
 * snapshot, which a single per-person `ts` could not tell.
 */

/** Snapshot lines carry the times of fields older than the line's `ts` (newer ones equal it). */
export type SnapshotPerson = PersonRecord & {
  field_ts?: Record<string, string>;
  /** Earlier identities folded into this person by `alias` calls (their ids, sorted). */
  merged_ids?: string[];
};

/** A raw person line; an alias line also names the identity it folds in (`merged_from`). */
export type PersonUpdate = PersonRecord & { merged_from?: string };

export interface FlatPerson {
  customer_id: string;
  values: Map<string, unknown>;
  times: Map<string, string>;
  /** Ids merged into this person (alias). */
  merged?: Set<string>;
}

export { PERSON_SCALAR_FIELDS };

const CONSENT_KEYS = ['ad_user_data', 'ad_personalization'] as const;

/** The flat names of the consent fields, in the order a snapshot line writes them. */
const CONSENT_FIELDS = CONSENT_KEYS.map((k) => `consent.${k}` as const);
const ATTRIBUTE_PREFIX = 'attributes.';

export function emptyPerson(customerId: string): FlatPerson {
  return { customer_id: customerId, values: new Map(), times: new Map() };
}

/**
 * Applies one canonical person update. A field is replaced when the update is at least as new as
 * the value held (ties: the update applied later wins, i.e. later part key / line).
 */
export function applyUpdate(person: FlatPerson, update: PersonRecord): number {
  let changed = 0;
  for (const field of PERSON_SCALAR_FIELDS) {
    const value = update[field];
    if (value !== undefined) changed += setIfNewer(person, field, value, update.ts);
  }
  if (update.consent) {
    for (let i = 0; i < CONSENT_KEYS.length; i++) {
      const value = update.consent[CONSENT_KEYS[i]!];
      if (value !== undefined) changed += setIfNewer(person, CONSENT_FIELDS[i]!, value, update.ts);
    }
  }
  if (update.attributes) {
    for (const [key, value] of Object.entries(update.attributes)) {
      if (value !== undefined) changed += setIfNewer(person, `${ATTRIBUTE_PREFIX}${key}`, value, update.ts);
    }
  }
  return changed;
}

// Module-level helpers rather than closures: the fold calls these once or more per person and update.

/** Sets `field` unless the value held is newer than `ts`; 1 when it was set. */
function setIfNewer(person: FlatPerson, field: string, value: unknown, ts: string): number {
  const held = person.times.get(field);
  if (held !== undefined && held > ts) return 0;
  person.values.set(field, value);
  person.times.set(field, ts);
  return 1;
}

/** A snapshot line back into flat form (fields without their own time take the line's `ts`). */
export function flattenSnapshotPerson(line: SnapshotPerson): FlatPerson {
  const person = emptyPerson(line.customer_id);
  const fieldTs = line.field_ts ?? {};
  for (const field of PERSON_SCALAR_FIELDS) {
    const value = line[field];
    if (value !== undefined) put(person, field, value, fieldTs[field] ?? line.ts);
  }
  for (let i = 0; i < CONSENT_KEYS.length; i++) {
    const value = line.consent?.[CONSENT_KEYS[i]!];
    const field = CONSENT_FIELDS[i]!;
    if (value !== undefined) put(person, field, value, fieldTs[field] ?? line.ts);
  }
  for (const [key, value] of Object.entries(line.attributes ?? {})) {
    const field = `${ATTRIBUTE_PREFIX}${key}`;
    put(person, field, value, fieldTs[field] ?? line.ts);
  }
  if (Array.isArray(line.merged_ids) && line.merged_ids.length > 0) person.merged = new Set(line.merged_ids);
  return person;
}

function put(person: FlatPerson, field: string, value: unknown, ts: string): void {
  person.values.set(field, value);
  person.times.set(field, ts);
}

/**
 * Flat form → the snapshot line: a PersonRecord whose `ts` is the newest field time. Fields are in
 * one order whatever order updates set them in (scalars, consent, attributes), so a person folded in
 * one pass writes the same line as one folded across several snapshots. `field_ts` follows the same
 * order. Runs once per person of a first build: it builds each object once, without lists of names.
 */
export function toSnapshotPerson(person: FlatPerson): SnapshotPerson {
  const { values, times } = person;
  let ts = '';
  for (const t of times.values()) if (t > ts) ts = t;
  const out: Record<string, unknown> = { customer_id: person.customer_id };
  // Times and values always hold the same fields: a field's time differs from the line's when older.
  const older: Record<string, string> = {};
  for (const field of PERSON_SCALAR_FIELDS) {
    if (!values.has(field)) continue;
    out[field] = values.get(field);
    noteOlder(older, times, field, ts);
  }
  const consent: Record<string, unknown> = {};
  let anyConsent = false;
  for (let i = 0; i < CONSENT_KEYS.length; i++) {
    const field = CONSENT_FIELDS[i]!;
    if (!values.has(field)) continue;
    consent[CONSENT_KEYS[i]!] = values.get(field);
    anyConsent = true;
    noteOlder(older, times, field, ts);
  }
  const attributes: Record<string, unknown> = {};
  let anyAttribute = false;
  for (const [field, value] of values) {
    if (!field.startsWith(ATTRIBUTE_PREFIX)) continue;
    attributes[field.slice(ATTRIBUTE_PREFIX.length)] = value;
    anyAttribute = true;
  }
  if (anyConsent) out.consent = consent;
  if (anyAttribute) {
    out.attributes = attributes;
    // In the object's own key order (integer-like names first), as the line writes them.
    for (const key of Object.keys(attributes)) noteOlder(older, times, `${ATTRIBUTE_PREFIX}${key}`, ts);
  }
  out.ts = ts;
  if (person.merged && person.merged.size > 0) out.merged_ids = [...person.merged].sort();
  if (hasKeys(older)) out.field_ts = older;
  return out as SnapshotPerson;
}

/** Whether `o` has a key, without building the list of its keys (once per person). */
function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** Notes the field's time in `older` when it is older than the line's; whether it did. */
function noteOlder(
  older: Record<string, string>,
  times: Map<string, string>,
  field: string,
  ts: string,
): boolean {
  const t = times.get(field)!;
  if (t === ts) return false;
  older[field] = t;
  return true;
}

/**
 * Light check of a raw person line. Raw parts were validated by the export with `checkPerson`, so
 * this only guards against lines that are not person records at all; a full re-validation
 * (libphonenumber per line) would dominate the snapshot time for no gain.
 */
export function asPersonUpdate(value: Record<string, unknown>): PersonUpdate | string {
  const id = value.customer_id;
  if (typeof id !== 'string' || id.length === 0 || id.length > 256) return 'missing_person_key';
  if (typeof value.ts !== 'string' || !CANONICAL_TIMESTAMP.test(value.ts)) return 'bad_timestamp';
  const out: Record<string, unknown> = { customer_id: id, ts: value.ts };
  for (const field of PERSON_SCALAR_FIELDS) {
    const v = value[field];
    if (v === undefined || v === null) continue;
    const isFlag = field === 'unsubscribed' || field === 'deleted';
    if (isFlag ? typeof v === 'boolean' : typeof v === 'string') out[field] = v;
  }
  const consent = value.consent;
  if (consent && typeof consent === 'object' && !Array.isArray(consent)) {
    const c: Record<string, string> = {};
    for (const key of CONSENT_KEYS) {
      const v = (consent as Record<string, unknown>)[key];
      if (v === 'granted' || v === 'denied') c[key] = v;
    }
    if (Object.keys(c).length > 0) out.consent = c;
  }
  const attributes = value.attributes;
  if (attributes && typeof attributes === 'object' && !Array.isArray(attributes)) out.attributes = attributes;
  const from = value.merged_from;
  if (typeof from === 'string' && from.length > 0 && from.length <= 256 && from !== id)
    out.merged_from = from;
  return out as PersonUpdate;
}

/**
 * Folds `source` (an earlier identity named by an `alias` call) into `target`: every field the
 * target does not hold newer wins over it, and the target remembers the merged ids (the source's
 * own earlier merges included) so records keyed by them can be resolved.
 */
export function mergeInto(target: FlatPerson, source: FlatPerson): FlatPerson {
  mergeFields(target, source);
  const merged = target.merged ?? new Set<string>();
  merged.add(source.customer_id);
  for (const id of source.merged ?? []) merged.add(id);
  merged.delete(target.customer_id);
  target.merged = merged;
  return target;
}

/** Field-by-field: the newer value of each field wins (ties: `delta`). Merged ids are unioned. */
export function mergeFields(base: FlatPerson, delta: FlatPerson): FlatPerson {
  for (const [field, ts] of delta.times) {
    const held = base.times.get(field);
    if (held !== undefined && held > ts) continue;
    base.values.set(field, delta.values.get(field));
    base.times.set(field, ts);
  }
  if (delta.merged && delta.merged.size > 0) {
    const merged = base.merged ?? new Set<string>();
    for (const id of delta.merged) merged.add(id);
    base.merged = merged;
  }
  return base;
}
