import { type CountryCode, getCountries, parsePhoneNumberFromString } from 'libphonenumber-js';

/**
 * Identifier clean-up shared by every stage. Platform-specific normalization for hashing lives in
 * `connectors/core`; this is the canonical form we store.
 */

const EMAIL_RE = /^[^\s@]+@[^\s@]+\.[^\s@.]{2,}$/;

/** Trim + lowercase; `null` when it cannot be an address. */
export function cleanEmail(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !EMAIL_RE.test(email)) return null;
  return email;
}

const COUNTRIES: ReadonlySet<string> = new Set(getCountries());
/** Common non-code spellings people put in a country field. */
const COUNTRY_SYNONYMS: Readonly<Record<string, string>> = { UK: 'GB', USA: 'US', UAE: 'AE' };
let countryNames: Map<string, string> | undefined;

function countryByName(name: string): string | undefined {
  if (!countryNames) {
    countryNames = new Map();
    const display = new Intl.DisplayNames(['en'], { type: 'region' });
    for (const code of COUNTRIES) {
      const label = display.of(code);
      if (label) countryNames.set(label.toLowerCase(), code);
    }
    countryNames.set('united states of america', 'US');
  }
  return countryNames.get(name.toLowerCase());
}

/** ISO-3166 alpha-2 (uppercase) from a code or an English country name; `null` when unknown. */
export function cleanCountry(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const s = raw.trim();
  if (s.length === 0 || s.length > 60) return null;
  const upper = s.toUpperCase();
  const code = COUNTRY_SYNONYMS[upper] ?? upper;
  if (COUNTRIES.has(code)) return code;
  return countryByName(s) ?? null;
}

/**
 * E.164 (`+15551234567`) or `null`. Uses `isPossible()`, not `isValid()`: real data contains
 * fictional ranges (555) that `isValid()` rejects. `defaultRegion` is the person's country.
 */
export function cleanPhone(raw: unknown, defaultRegion?: string | null): string | null {
  if (typeof raw !== 'string' && typeof raw !== 'number') return null;
  const s = String(raw).trim();
  if (s.length === 0 || s.length > 40) return null;
  const region = defaultRegion && COUNTRIES.has(defaultRegion) ? (defaultRegion as CountryCode) : undefined;
  // A number written with its international prefix but without `+` (`0044…`) is handled by the parser
  // given a region; without one we still try, for values such as `+1 555 …`.
  const parsed = parsePhoneNumberFromString(s, region ? { defaultCountry: region } : undefined);
  return parsed?.isPossible() ? parsed.number : null;
}

/** EU member states plus Iceland, Liechtenstein and Norway. */
export const EEA_COUNTRIES: ReadonlySet<string> = new Set([
  'AT',
  'BE',
  'BG',
  'HR',
  'CY',
  'CZ',
  'DK',
  'EE',
  'FI',
  'FR',
  'DE',
  'GR',
  'HU',
  'IE',
  'IT',
  'LV',
  'LT',
  'LU',
  'MT',
  'NL',
  'PL',
  'PT',
  'RO',
  'SK',
  'SI',
  'ES',
  'SE',
  'IS',
  'LI',
  'NO',
]);

export function isEea(country: string | null | undefined): boolean {
  return country ? EEA_COUNTRIES.has(country) : false;
}
