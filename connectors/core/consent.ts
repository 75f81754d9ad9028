import { isEea } from '../../src/contract/identifiers.js';
import type { PersonRecord } from '../../src/contract/records.js';
import type { ConsentState, RowConsent } from './types.js';

/**
 * A person's ad consent as Google wants it on a job, plus EEA membership. The sync engine uses
 * `mayAddToGoogle` to decide eligibility; the Google connector groups rows by the two states.
 */
export function rowConsent(person: Pick<PersonRecord, 'consent' | 'country'>): RowConsent {
  return {
    adUserData: consentState(person.consent?.ad_user_data),
    adPersonalization: consentState(person.consent?.ad_personalization),
    eea: isEea(person.country ?? null),
  };
}

function consentState(value: 'granted' | 'denied' | undefined): ConsentState {
  return value === 'granted' ? 'GRANTED' : value === 'denied' ? 'DENIED' : 'UNSPECIFIED';
}

/**
 * Since March 2024 EEA people need both consents granted to be added; anyone who denied either
 * must be removed, wherever they live.
 */
export function mayAddToGoogle(consent: RowConsent | undefined): boolean {
  if (!consent) return true;
  if (consent.adUserData === 'DENIED' || consent.adPersonalization === 'DENIED') return false;
  if (consent.eea) return consent.adUserData === 'GRANTED' && consent.adPersonalization === 'GRANTED';
  return true;
}
