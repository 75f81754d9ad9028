import type { PersonRecord } from '../../src/contract/records.js';
import {
  birthDateKeys,
  type FieldRules,
  hashedKey,
  INPUT_FIELDS,
  keysFromRules,
  nameWithInitial,
  plainKey,
} from '../core/fields.js';
import {
  countryAlpha2,
  externalId,
  genderCode,
  lettersOnly,
  maidLower,
  normalizeEmail,
  phoneDigits,
  postalCode,
  regionCode,
} from '../core/normalize.js';
import type { IdentifierType, MatchKeys } from '../core/types.js';

/**
 * Meta customer-file normalization (docs/identifiers.md, "Meta"): EMAIL trim + lowercase; PHONE
 * digits with country code, no `+`; FN / LN / CT lowercase letters only (non-ASCII kept); FI the
 * first letter of FN; ST two-letter code; ZIP lowercase without spaces, US five digits; COUNTRY
 * alpha-2 lowercase; GEN m/f; DOB parts; all hashed. MADID and EXTERN_ID are sent unhashed.
 */
export const metaRules: FieldRules = {
  email: hashedKey('email', (raw) => normalizeEmail(raw)),
  phone: hashedKey('phone', (raw, hints) => phoneDigits(raw, hints.country)),
  first_name: nameWithInitial((raw) => lettersOnly(raw)),
  last_name: hashedKey('last_name', (raw) => lettersOnly(raw)),
  city: hashedKey('city', (raw) => lettersOnly(raw)),
  region: hashedKey('region', (raw) => regionCode(raw)),
  postal_code: hashedKey('postal_code', (raw, hints) => postalCode(raw, hints.country)),
  country: hashedKey('country', (raw) => countryAlpha2(raw)?.toLowerCase() ?? null),
  gender: hashedKey('gender', (raw) => genderCode(raw)),
  birth_date: birthDateKeys,
  maid: plainKey('maid', (raw) => maidLower(raw)),
  external_id: plainKey('external_id', (raw) => externalId(raw)),
};

/** Meta multi-key schema names, in the order columns are sent. */
export const META_KEY_BY_IDENTIFIER: ReadonlyArray<readonly [IdentifierType, string]> = [
  ['external_id', 'EXTERN_ID'],
  ['email', 'EMAIL'],
  ['phone', 'PHONE'],
  ['gender', 'GEN'],
  ['birth_year', 'DOBY'],
  ['birth_month', 'DOBM'],
  ['birth_day', 'DOBD'],
  ['last_name', 'LN'],
  ['first_name', 'FN'],
  ['first_initial', 'FI'],
  ['city', 'CT'],
  ['region', 'ST'],
  ['postal_code', 'ZIP'],
  ['country', 'COUNTRY'],
  ['maid', 'MADID'],
];

export const META_IDENTIFIER_TYPES: readonly IdentifierType[] = META_KEY_BY_IDENTIFIER.map(([t]) => t);

/** Every input field but the customer id, which Meta gets only when the destination opts in. */
const WITHOUT_EXTERN_ID = INPUT_FIELDS.filter((f) => f !== 'external_id');

/**
 * A person's Meta keys. EXTERN_ID (the customer_id) only when the destination sends it, so a
 * person with nothing but an id counts as having no usable identifier.
 */
export function metaMatchKeys(person: PersonRecord, config?: { send_extern_id?: boolean }): MatchKeys | null {
  return config?.send_extern_id
    ? keysFromRules(metaRules, person)
    : keysFromRules(metaRules, person, WITHOUT_EXTERN_ID);
}
