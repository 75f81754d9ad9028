import type { PersonRecord } from '../../src/contract/records.js';
import { INPUT_FIELDS, type InputField } from './input-fields.js';
import { birthDateParts, firstLetter, isSha256Hex, sha256Hex } from './normalize.js';
import type { IdentifierType, MatchKeys } from './types.js';

/**
 * Per-platform identifier rules. One table per platform says, for each input field, which keys it
 * produces, how the value is normalized and whether it is hashed. `matchKeys` and the
 * `audience-sync hash` command both run these tables, so what the CLI prints is what is sent.
 */

export { INPUT_FIELDS, type InputField };

/** Context a rule may need: the person's country picks the phone region and the ZIP rule. */
export interface FieldHints {
  country?: string | null;
}

export interface NormalizedKey {
  identifier: IdentifierType;
  /** The normalized value before hashing (`null` when the input was already a hash). */
  normalized: string | null;
  /** What is sent: the hash, or the plain normalized value for unhashed keys. */
  value: string;
  hashed: boolean;
}

export interface FieldRule {
  /** Keys this field yields for one value; `null` when the value is unusable. */
  apply(raw: string, hints: FieldHints): NormalizedKey[] | null;
  /**
   * The same for a rule that yields one key, without the detail objects: `matchKeys` runs this
   * in its hot loop (the benchmark measures it), `apply` is for people reading the result.
   */
  single?: { identifier: IdentifierType; value(raw: string, hints: FieldHints): string | null };
}

export type FieldRules = Partial<Record<InputField, FieldRule>>;

type Normalizer = (raw: string, hints: FieldHints) => string | null;

/**
 * A hashed key. A value that is already 64 hex characters is taken as pre-hashed (checked before
 * any cleaning, lowercased); otherwise it is normalized and SHA-256 hashed.
 */
export function hashedKey(identifier: IdentifierType, normalize: Normalizer): FieldRule {
  return {
    single: {
      identifier,
      value(raw, hints) {
        if (isSha256Hex(raw)) return raw.toLowerCase();
        const normalized = normalize(raw, hints);
        return normalized === null ? null : sha256Hex(normalized);
      },
    },
    apply(raw, hints) {
      if (isSha256Hex(raw)) return [{ identifier, normalized: null, value: raw.toLowerCase(), hashed: true }];
      const normalized = normalize(raw, hints);
      return normalized === null
        ? null
        : [{ identifier, normalized, value: sha256Hex(normalized), hashed: true }];
    },
  };
}

/** A key the platform wants unhashed (Meta MADID / EXTERN_ID, Google country and postal code). */
export function plainKey(identifier: IdentifierType, normalize: Normalizer): FieldRule {
  return {
    single: { identifier, value: normalize },
    apply(raw, hints) {
      const normalized = normalize(raw, hints);
      return normalized === null ? null : [{ identifier, normalized, value: normalized, hashed: false }];
    },
  };
}

/** First name plus its hashed first initial (Meta FN + FI). */
export function nameWithInitial(normalize: Normalizer): FieldRule {
  const name = hashedKey('first_name', normalize);
  return {
    apply(raw, hints) {
      const keys = name.apply(raw, hints);
      const first = keys?.[0];
      if (!first) return null;
      if (first.normalized === null) return keys; // pre-hashed: the initial cannot be derived
      const initial = firstLetter(first.normalized);
      return initial
        ? [
            first,
            { identifier: 'first_initial', normalized: initial, value: sha256Hex(initial), hashed: true },
          ]
        : keys;
    },
  };
}

/** Birth date → hashed year, month and day (Meta DOBY / DOBM / DOBD). */
export const birthDateKeys: FieldRule = {
  apply(raw) {
    const parts = birthDateParts(raw);
    if (!parts) return null;
    return [
      { identifier: 'birth_year', normalized: parts.year, value: sha256Hex(parts.year), hashed: true },
      { identifier: 'birth_month', normalized: parts.month, value: sha256Hex(parts.month), hashed: true },
      { identifier: 'birth_day', normalized: parts.day, value: sha256Hex(parts.day), hashed: true },
    ];
  },
};

/**
 * Raw values of a person's identifier fields. Gender and birth date are not in the canonical
 * person record; they come from identify attributes (`gender`, `birth_date` / `date_of_birth`).
 */
export function personFieldValues(person: PersonRecord): Partial<Record<InputField, string>> {
  const out: Partial<Record<InputField, string>> = {};
  const set = (field: InputField, value: unknown) => {
    if (typeof value === 'string' && value.length > 0) out[field] = value;
    else if (typeof value === 'number' && Number.isFinite(value)) out[field] = String(value);
  };
  set('email', person.email);
  set('phone', person.phone);
  set('first_name', person.first_name);
  set('last_name', person.last_name);
  set('city', person.city);
  set('region', person.region);
  set('postal_code', person.postal_code);
  set('country', person.country);
  set('maid', person.maid);
  set('external_id', person.customer_id);
  const attributes = person.attributes;
  if (attributes) {
    set('gender', attributes.gender);
    set('birth_date', attributes.birth_date ?? attributes.date_of_birth ?? attributes.birthday);
  }
  return out;
}

/** Runs a rule table over a person: every usable field contributes its keys. */
export function keysFromRules(
  rules: FieldRules,
  person: PersonRecord,
  fields: readonly InputField[] = INPUT_FIELDS,
): MatchKeys | null {
  const values = personFieldValues(person);
  const hints: FieldHints = { country: person.country ?? null };
  const keys: MatchKeys = {};
  let any = false;
  for (const field of fields) {
    const rule = rules[field];
    const raw = values[field];
    if (!rule || raw === undefined) continue;
    if (rule.single) {
      const value = rule.single.value(raw, hints);
      if (value !== null) {
        keys[rule.single.identifier] = value;
        any = true;
      }
      continue;
    }
    const produced = rule.apply(raw, hints);
    if (!produced) continue;
    for (const key of produced) {
      keys[key.identifier] = key.value;
      any = true;
    }
  }
  return any ? keys : null;
}
