import type { PersonRecord } from '../../src/contract/records.js';
import { type FieldRules, hashedKey, keysFromRules } from '../core/fields.js';
import { maidLower, normalizeEmail, phoneDigits, withoutPlusSuffix } from '../core/normalize.js';
import type { IdentifierType, MatchKeys } from '../core/types.js';

/**
 * TikTok normalization (docs/identifiers.md, "TikTok"): email trim + lowercase without a `+suffix`
 * (any domain); phone digits with country code, no `+`; MAID lowercase; all SHA-256.
 */
export const tiktokRules: FieldRules = {
  email: hashedKey('email', (raw) => {
    const email = normalizeEmail(raw);
    return email ? withoutPlusSuffix(email) : null;
  }),
  phone: hashedKey('phone', (raw, hints) => phoneDigits(raw, hints.country)),
  maid: hashedKey('maid', (raw) => maidLower(raw)),
};

export const TIKTOK_IDENTIFIER_TYPES: readonly IdentifierType[] = ['email', 'phone', 'maid'];

export function tiktokMatchKeys(person: PersonRecord): MatchKeys | null {
  return keysFromRules(tiktokRules, person, ['email', 'phone', 'maid']);
}
