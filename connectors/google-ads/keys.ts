import type { PersonRecord } from '../../src/contract/records.js';
import { type FieldRules, hashedKey, keysFromRules, plainKey } from '../core/fields.js';
import {
  canonicalGmail,
  countryAlpha2,
  externalId,
  maidLower,
  normalizeEmail,
  phoneE164,
  postalCodePlain,
  trimLower,
} from '../core/normalize.js';
import type { IdentifierType, MatchKeys } from '../core/types.js';

/**
 * Google Customer Match normalization (docs/identifiers.md, "Google Ads"): email trim + lowercase,
 * and for gmail.com / googlemail.com without dots and `+suffix`; phone E.164 with `+`; first and
 * last name trim + lowercase; all hashed. Country code and postal code go unhashed. CRM ids and
 * mobile ids are sent as they are.
 */
export const googleRules: FieldRules = {
  email: hashedKey('email', (raw) => {
    const email = normalizeEmail(raw);
    return email ? canonicalGmail(email) : null;
  }),
  phone: hashedKey('phone', (raw, hints) => phoneE164(raw, hints.country)),
  first_name: hashedKey('first_name', (raw) => trimLower(raw)),
  last_name: hashedKey('last_name', (raw) => trimLower(raw)),
  country: plainKey('country', (raw) => countryAlpha2(raw)),
  postal_code: plainKey('postal_code', (raw, hints) => postalCodePlain(raw, hints.country)),
  maid: plainKey('maid', (raw) => maidLower(raw)),
  external_id: plainKey('external_id', (raw) => externalId(raw)),
};

const ADDRESS: readonly IdentifierType[] = ['first_name', 'last_name', 'country', 'postal_code'];

export type UploadKeyType = 'CONTACT_INFO' | 'CRM_ID' | 'MOBILE_ADVERTISING_ID';

export const GOOGLE_IDENTIFIER_TYPES: readonly IdentifierType[] = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'country',
  'postal_code',
  'maid',
  'external_id',
];

/**
 * A person's keys for the list's upload key type. Address parts count only all four together
 * (Google rejects partial addresses), so they are dropped otherwise.
 */
export function googleMatchKeys(
  person: PersonRecord,
  config?: { upload_key_type?: UploadKeyType },
): MatchKeys | null {
  const type = config?.upload_key_type ?? 'CONTACT_INFO';
  if (type === 'CRM_ID') return keysFromRules(googleRules, person, ['external_id']);
  if (type === 'MOBILE_ADVERTISING_ID') return keysFromRules(googleRules, person, ['maid']);
  const keys = keysFromRules(googleRules, person, [
    'email',
    'phone',
    'first_name',
    'last_name',
    'country',
    'postal_code',
  ]);
  if (!keys) return null;
  if (!ADDRESS.every((t) => keys[t])) for (const t of ADDRESS) delete keys[t];
  return Object.keys(keys).length > 0 ? keys : null;
}
