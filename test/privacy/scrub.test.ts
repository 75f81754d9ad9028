import { describe, expect, it } from 'vitest';
import { hashCustomerId, hashEmail, hashPhone } from '../../src/privacy/identifiers.js';
import { PersonMatcher } from '../../src/privacy/scrub.js';

/**
 * What an erasure takes out of a request body (docs/privacy.md, "Rewrite"): their row only, in
 * each platform's shape, and never the rows of people who merely share a country with them.
 */
const EMAIL = hashEmail('gone@example.org')!;
const PHONE = hashPhone('+14155550123')!;
const COUNTRY = 'a'.repeat(64);
const other = (i: number) => String(i).repeat(64).slice(0, 64);
const matcher = new PersonMatcher(
  { customer_id: [hashCustomerId('gone-1')], email: [EMAIL], phone: [PHONE] },
  [EMAIL, PHONE],
);

describe('PersonMatcher.prune', () => {
  it('Meta: removes their data row, keeps the request and the rows of the others', () => {
    const body = {
      requests: [
        {
          method: 'POST',
          body: {
            payload: {
              schema: ['EMAIL', 'PHONE', 'COUNTRY'],
              data: [
                [other(1), other(2), COUNTRY],
                [EMAIL, PHONE, COUNTRY],
                [other(3), '', COUNTRY],
              ],
            },
          },
        },
      ],
    };
    const { value, removed } = matcher.prune(body);
    expect(removed).toBe(1);
    expect((value as typeof body).requests[0]!.body.payload.data).toEqual([
      [other(1), other(2), COUNTRY],
      [other(3), '', COUNTRY],
    ]);
    expect(matcher.mentions(value)).toBe(false);
  });

  it('TikTok: removes their batch_data row, whose missing cell is {}', () => {
    const cell = (id: string) => ({ id, audience_ids: ['1'] });
    const body = {
      id_schema: ['EMAIL_SHA256', 'PHONE_SHA256'],
      batch_data: [
        [cell(EMAIL), {}],
        [cell(other(1)), cell(other(2))],
      ],
    };
    const { value, removed } = matcher.prune(body);
    expect(removed).toBe(1);
    expect((value as typeof body).batch_data).toEqual([[cell(other(1)), cell(other(2))]]);
  });

  it('Google: removes their operation whole, not single identifiers from it', () => {
    const op = (ids: object[]) => ({ create: { userIdentifiers: ids } });
    const body = {
      operations: [
        op([{ hashedEmail: EMAIL }, { hashedPhoneNumber: PHONE }, { addressInfo: { countryCode: 'US' } }]),
        op([{ hashedEmail: other(1) }]),
      ],
    };
    const { value, removed } = matcher.prune(body);
    expect(removed).toBe(1);
    expect((value as typeof body).operations).toEqual([op([{ hashedEmail: other(1) }])]);
  });

  it('Customer.io: removes their batch entry', () => {
    const body = {
      batch: [
        { type: 'identify', identifiers: { id: 'gone-1' }, attributes: { paid_group: '' } },
        { type: 'identify', identifiers: { id: 'keep-1' }, attributes: { paid_group: 'treatment' } },
      ],
    };
    expect(matcher.prune(body)).toEqual({ value: { batch: [body.batch[1]] }, removed: 1 });
  });

  it('leaves a value that does not mention them as it is, shared country hash or not', () => {
    const body = { data: [[other(1), COUNTRY]] };
    expect(matcher.prune(body)).toEqual({ value: body, removed: 0 });
    expect(matcher.mentions(COUNTRY)).toBe(false);
  });
});
