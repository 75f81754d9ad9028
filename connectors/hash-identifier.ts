import type { FieldRules, InputField, NormalizedKey } from './core/fields.js';
import { INPUT_FIELDS } from './core/fields.js';
import type { IdentifierType } from './core/types.js';
import { googleRules } from './google-ads/keys.js';
import { HASH_PLATFORMS, type HashPlatform } from './hash-platforms.js';
import { META_KEY_BY_IDENTIFIER, metaRules } from './meta/keys.js';
import { tiktokRules } from './tiktok/keys.js';

/**
 * One identifier through one platform's rules — what `audience-sync hash` prints. It runs the
 * same rule tables as `matchKeys`, so the printed hash is exactly what would be sent.
 */

export { HASH_PLATFORMS, type HashPlatform };

const RULES: Record<HashPlatform, FieldRules> = { meta: metaRules, google: googleRules, tiktok: tiktokRules };

const GOOGLE_KEYS: Partial<Record<IdentifierType, string>> = {
  email: 'hashedEmail',
  phone: 'hashedPhoneNumber',
  first_name: 'addressInfo.hashedFirstName',
  last_name: 'addressInfo.hashedLastName',
  country: 'addressInfo.countryCode',
  postal_code: 'addressInfo.postalCode',
  maid: 'mobileId',
  external_id: 'thirdPartyUserId',
};
const TIKTOK_KEYS: Partial<Record<IdentifierType, string>> = {
  email: 'EMAIL_SHA256',
  phone: 'PHONE_SHA256',
  maid: 'IDFA_SHA256 / GAID_SHA256',
};
const META_KEYS: Partial<Record<IdentifierType, string>> = Object.fromEntries(META_KEY_BY_IDENTIFIER);

/** The platform's own name for a key (`EMAIL`, `hashedEmail`, `EMAIL_SHA256`). */
export function platformKeyName(platform: HashPlatform, identifier: IdentifierType): string {
  const table = platform === 'meta' ? META_KEYS : platform === 'google' ? GOOGLE_KEYS : TIKTOK_KEYS;
  return table[identifier] ?? identifier;
}

export interface HashResult {
  platform: HashPlatform;
  field: InputField;
  /** The input was already a SHA-256 hash and passes through unchanged (lowercased). */
  prehashed: boolean;
  keys: Array<NormalizedKey & { platformKey: string }>;
}

/** The value cannot be used; the message says why without repeating the value. */
export class UnusableValueError extends Error {
  override readonly name = 'UnusableValueError';
  constructor(
    message: string,
    readonly reason: 'unknown_platform' | 'unsupported_field' | 'unusable_value',
  ) {
    super(message);
  }
}

const HINTS: Record<InputField, string> = {
  email: 'expected an address like name@example.com',
  phone: 'expected a possible phone number; give it with its country code (+44 ...) or pass the country',
  first_name: 'expected at least one letter',
  last_name: 'expected at least one letter',
  city: 'expected at least one letter',
  region: 'expected a state or region name or code',
  postal_code: 'expected a postal code (US: five digits)',
  country: 'expected an ISO-3166 code or an English country name',
  gender: 'expected m, f, male or female',
  birth_date: 'expected YYYY-MM-DD',
  maid: 'expected a mobile advertising id (IDFA / GAID, 8-4-4-4-12 hex)',
  external_id: 'expected a non-empty id',
};

export function hashIdentifier(
  platform: string,
  field: string,
  value: string,
  options: { country?: string | null } = {},
): HashResult {
  const name = platform === 'google_ads' ? 'google' : platform;
  if (!(HASH_PLATFORMS as readonly string[]).includes(name)) {
    throw new UnusableValueError(
      `unknown platform "${platform}" (use ${HASH_PLATFORMS.join(', ')})`,
      'unknown_platform',
    );
  }
  const p = name as HashPlatform;
  if (!(INPUT_FIELDS as readonly string[]).includes(field)) {
    throw new UnusableValueError(
      `unknown field "${field}" (use ${INPUT_FIELDS.join(', ')})`,
      'unsupported_field',
    );
  }
  const f = field as InputField;
  const rule = RULES[p][f];
  if (!rule) {
    const supported = INPUT_FIELDS.filter((x) => RULES[p][x]).join(', ');
    throw new UnusableValueError(`${p} does not match on ${f} (it uses: ${supported})`, 'unsupported_field');
  }
  const keys = rule.apply(value, { country: options.country ?? null });
  if (!keys)
    throw new UnusableValueError(`the ${f} value is not usable for ${p}: ${HINTS[f]}`, 'unusable_value');
  return {
    platform: p,
    field: f,
    prehashed: keys.length === 1 && keys[0]!.normalized === null,
    keys: keys.map((k) => ({ ...k, platformKey: platformKeyName(p, k.identifier) })),
  };
}
