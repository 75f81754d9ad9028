import { hash } from 'node:crypto';
import { cleanCountry, cleanPhone } from '../../src/contract/identifiers.js';
import { US_STATE_CODES } from './us-states.js';

/**
 * Shared normalization helpers. Each platform composes its own rules from these (its phone and
 * email rules differ); every helper is pure and returns `null` for a value it cannot use.
 * Hot paths (email) avoid regexes and needless allocations: the benchmark is about them.
 */

/** SHA-256 of the UTF-8 string, lowercase hex. `crypto.hash` skips the Hash object churn. */
export function sha256Hex(value: string): string {
  return hash('sha256', value);
}

/** Exactly 64 hex characters: the value was hashed before it reached us (checked before cleaning). */
export function isSha256Hex(value: string): boolean {
  if (value.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = value.charCodeAt(i);
    // 0-9, A-F, a-f
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/**
 * Trim + lowercase, then a structural check: one `@`, a non-empty local part, a domain with a dot
 * and a top-level part of two or more characters, no whitespace or control characters.
 */
export function normalizeEmail(raw: string): string | null {
  let s = raw;
  if (s.length === 0) return null;
  if (s.charCodeAt(0) <= 32 || s.charCodeAt(s.length - 1) <= 32) s = s.trim();
  if (s.length < 6 || s.length > 254) return null;
  let needsLower = false;
  let at = -1;
  let lastDot = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) return null;
    if (c === 64) {
      if (at !== -1) return null;
      at = i;
    } else if (c === 46) lastDot = i;
    else if (c >= 65 && c <= 90) needsLower = true;
    else if (c > 127) needsLower = true;
  }
  if (at < 1 || lastDot < at + 2 || lastDot > s.length - 3) return null;
  return needsLower ? s.toLowerCase() : s;
}

/** Google: for gmail.com / googlemail.com, dots and a `+suffix` in the local part do not matter. */
export function canonicalGmail(email: string): string {
  // endsWith instead of slicing out the domain: this runs once per email on the hot path.
  const suffix = email.endsWith('@gmail.com') ? 10 : email.endsWith('@googlemail.com') ? 15 : 0;
  if (suffix === 0) return email;
  let local = email.slice(0, email.length - suffix);
  const plus = local.indexOf('+');
  if (plus !== -1) local = local.slice(0, plus);
  if (local.includes('.')) local = local.replaceAll('.', '');
  return local.length > 0 ? local + email.slice(email.length - suffix) : email;
}

/** TikTok: a `+suffix` in the local part is dropped, whatever the domain. */
export function withoutPlusSuffix(email: string): string {
  const plus = email.indexOf('+');
  if (plus === -1) return email;
  const at = email.lastIndexOf('@');
  if (plus > at || plus === 0) return email;
  return email.slice(0, plus) + email.slice(at);
}

/**
 * E.164 (`+15551234567`) via libphonenumber-js with the person's country as default region, or
 * `null`. Without a region, a number written with `00` or as bare digits including the country
 * code (`15551234567`) is read as international, the way Meta documents phone values.
 */
export function phoneE164(raw: string, region?: string | null): string | null {
  const s = raw.trim();
  if (s.length === 0) return null;
  const direct = cleanPhone(s, region ?? undefined);
  if (direct) return direct;
  if (region) return null;
  const digits = s.replace(/[\s().-]/g, '');
  if (/^00[1-9]\d{6,14}$/.test(digits)) return cleanPhone(`+${digits.slice(2)}`);
  if (/^[1-9]\d{7,14}$/.test(digits)) return cleanPhone(`+${digits}`);
  return null;
}

/** E.164 without the `+` (Meta, TikTok). */
export function phoneDigits(raw: string, region?: string | null): string | null {
  const e164 = phoneE164(raw, region);
  return e164 ? e164.slice(1) : null;
}

const NOT_LETTER_RE = /[^\p{L}\p{M}]/gu;

/** Lowercase letters only (spaces, digits, punctuation removed; non-ASCII letters kept, NFC). */
export function lettersOnly(raw: string): string | null {
  const s = raw.normalize('NFC').toLowerCase().replace(NOT_LETTER_RE, '');
  return s.length > 0 ? s : null;
}

/** Trim + lowercase (NFC, inner whitespace collapsed to one space). */
export function trimLower(raw: string): string | null {
  const s = raw.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
  return s.length > 0 ? s : null;
}

/** First letter of an already-normalized name (a whole code point, so non-ASCII initials survive). */
export function firstLetter(normalizedName: string): string | null {
  const first = normalizedName.codePointAt(0);
  return first === undefined ? null : String.fromCodePoint(first);
}

/** A state / region: US names become their two-letter code; anything else lowercase letters only. */
export function regionCode(raw: string): string | null {
  const letters = lettersOnly(raw);
  if (!letters) return null;
  return US_STATE_CODES.get(letters) ?? letters;
}

/** ISO-3166 alpha-2 in uppercase (`US`), from a code or an English name. */
export function countryAlpha2(raw: string): string | null {
  return cleanCountry(raw);
}

const US_ZIP_RE = /^(\d{5})(?:-?\d{4})?$/;

/**
 * Postal code: lowercase, spaces and dashes removed. US codes keep their first five digits
 * (`94105-1234` → `94105`); a code that looks like a US ZIP counts as one when the country is unknown.
 */
export function postalCode(raw: string, country?: string | null): string | null {
  const compact = raw.trim().toLowerCase().replace(/[\s-]/g, '');
  if (compact.length === 0 || compact.length > 16) return null;
  if (country === 'US' || !country) {
    const zip = US_ZIP_RE.exec(raw.trim().replace(/\s/g, ''));
    if (zip) return zip[1]!;
    if (country === 'US') return null;
  }
  return /^[\p{L}\p{N}]+$/u.test(compact) ? compact : null;
}

/** Postal code as Google wants it (not hashed): trimmed, US codes cut to five digits. */
export function postalCodePlain(raw: string, country?: string | null): string | null {
  const s = raw.trim().replace(/\s+/g, ' ');
  if (s.length === 0 || s.length > 16) return null;
  if (country === 'US') {
    const zip = US_ZIP_RE.exec(s.replace(/\s/g, ''));
    return zip ? zip[1]! : null;
  }
  return s;
}

const GENDERS: ReadonlyMap<string, 'm' | 'f'> = new Map([
  ['m', 'm'],
  ['male', 'm'],
  ['man', 'm'],
  ['f', 'f'],
  ['female', 'f'],
  ['woman', 'f'],
]);

export function genderCode(raw: string): 'm' | 'f' | null {
  return GENDERS.get(raw.trim().toLowerCase()) ?? null;
}

export interface BirthDate {
  year: string;
  month: string;
  day: string;
}

/** `YYYY-MM-DD` (a full ISO timestamp is cut to its date) → zero-padded parts, checked as a real date. */
export function birthDateParts(raw: string): BirthDate | null {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:$|T)/.exec(raw.trim());
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return null;
  }
  if (year < 1900 || date.getTime() > Date.now()) return null;
  return { year: m[1]!, month: String(month).padStart(2, '0'), day: String(day).padStart(2, '0') };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A mobile advertising id (IDFA / GAID): lowercase with hyphens kept, UUID-shaped. */
export function maidLower(raw: string): string | null {
  const s = raw.trim().toLowerCase();
  if (!UUID_RE.test(s) || s === '00000000-0000-0000-0000-000000000000') return null;
  return s;
}

/** An external id (our customer_id): trimmed, bounded. */
export function externalId(raw: string): string | null {
  const s = raw.trim();
  return s.length > 0 && s.length <= 256 ? s : null;
}
