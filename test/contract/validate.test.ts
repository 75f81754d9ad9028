import { describe, expect, it } from 'vitest';
import { createEventNameNormalizer, snakeCaseEventName } from '../../src/contract/event-name.js';
import { cleanCountry, cleanEmail, cleanPhone, isEea } from '../../src/contract/identifiers.js';
import { canonicalTimestamp } from '../../src/contract/timestamp.js';
import { checkEvent, checkMember, checkMessage, checkPerson } from '../../src/contract/validate.js';

const TS = '2026-11-28T19:14:45.000Z';

describe('event names', () => {
  it.each([
    ['Checkout Started', 'checkout_started'],
    ['checkout-started', 'checkout_started'],
    ['CheckoutStarted', 'checkout_started'],
    [' checkout_started ', 'checkout_started'],
    ['checkoutStarted', 'checkout_started'],
    ['Order Completed', 'order_completed'],
    ['HTMLPageViewed', 'html_page_viewed'],
    ['Added to Cart!', 'added_to_cart'],
  ])('%j → %s', (raw, expected) => {
    expect(snakeCaseEventName(raw)).toBe(expected);
  });

  it('applies aliases written in either form', () => {
    const normalize = createEventNameNormalizer({
      purchase: 'order_completed',
      'Order Placed': 'Order Completed',
    });
    expect(normalize('Purchase')).toBe('order_completed');
    expect(normalize('purchase')).toBe('order_completed');
    expect(normalize('order-placed')).toBe('order_completed');
    expect(normalize('Checkout Started')).toBe('checkout_started');
  });
});

describe('timestamps', () => {
  it.each([
    [1_764_357_285, '2025-11-28T19:14:45.000Z'],
    [1_764_357_285_123, '2025-11-28T19:14:45.123Z'],
    ['1764357285', '2025-11-28T19:14:45.000Z'],
    ['2026-11-28T19:14:45Z', TS],
    ['2026-11-28T20:14:45+01:00', TS],
    ['2026-11-28T19:14:45.000Z', TS],
    ['2026-11-28', '2026-11-28T00:00:00.000Z'],
  ])('%j → %s', (input, expected) => {
    expect(canonicalTimestamp(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    'yesterday',
    '2026-13-45T00:00:00Z',
    '2026-11-28T19:14:45', // no zone: ambiguous
    '',
    Number.NaN,
    Number.POSITIVE_INFINITY,
    -5,
    '99999999999999999999',
    null,
    undefined,
    {},
    true,
  ])('rejects %j with a reason code', (input) => {
    const result = canonicalTimestamp(input, 'timestamp');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ code: 'bad_timestamp', path: 'timestamp' });
  });
});

describe('identifiers', () => {
  it('cleans emails', () => {
    expect(cleanEmail('  Jane.Doe@Example.COM ')).toBe('jane.doe@example.com');
    expect(cleanEmail('not-an-email')).toBeNull();
    expect(cleanEmail('a@b')).toBeNull();
    expect(cleanEmail(42)).toBeNull();
    expect(cleanEmail(`${'x'.repeat(250)}@example.com`)).toBeNull();
  });

  it('turns phones into E.164 using the person’s country, accepting fictional ranges', () => {
    expect(cleanPhone('+1-555-123-4567')).toBe('+15551234567');
    expect(cleanPhone('(555) 123-4567', 'US')).toBe('+15551234567');
    expect(cleanPhone('020 7946 0958', 'GB')).toBe('+442079460958');
    expect(cleanPhone('06 12 34 56 78', 'FR')).toBe('+33612345678');
    expect(cleanPhone('0044 20 7946 0958', 'FR')).toBe('+442079460958');
    expect(cleanPhone('12', 'US')).toBeNull();
    expect(cleanPhone('call me maybe', 'US')).toBeNull();
    expect(cleanPhone('5551234567')).toBeNull(); // no region and no country code
  });

  it('normalizes countries to ISO-3166 alpha-2', () => {
    expect(cleanCountry('us')).toBe('US');
    expect(cleanCountry(' de ')).toBe('DE');
    expect(cleanCountry('UK')).toBe('GB');
    expect(cleanCountry('Germany')).toBe('DE');
    expect(cleanCountry('United States')).toBe('US');
    expect(cleanCountry('Atlantis')).toBeNull();
    expect(cleanCountry('XX')).toBeNull();
    expect(isEea('DE')).toBe(true);
    expect(isEea('NO')).toBe(true);
    expect(isEea('US')).toBe(false);
    expect(isEea(undefined)).toBe(false);
  });
});

describe('checkEvent', () => {
  it('canonicalizes a good event', () => {
    const { record, problems } = checkEvent(
      { id: 'e1', customer_id: 42, name: 'Checkout Started', ts: 1_764_357_285, properties: { value: 10 } },
      { receivedAt: TS, source: 'track' },
    );
    expect(problems).toEqual([]);
    expect(record).toEqual({
      id: 'e1',
      customer_id: '42',
      name: 'checkout_started',
      raw_name: 'Checkout Started',
      ts: '2025-11-28T19:14:45.000Z',
      properties: { value: 10 },
      received_at: TS,
      source: 'track',
    });
  });

  it('derives a deterministic id from the content when the sender gave none', () => {
    const input = { customer_id: 'c1', name: 'order_completed', ts: TS, properties: { order_id: 'o1' } };
    const a = checkEvent(input, { receivedAt: TS });
    const b = checkEvent({ ...input }, { receivedAt: '2026-11-29T00:00:00.000Z' });
    expect(a.record?.id).toMatch(/^d_[0-9a-f]{32}$/);
    expect(a.record?.id).toBe(b.record?.id);
    expect(checkEvent({ ...input, properties: { order_id: 'o2' } }).record?.id).not.toBe(a.record?.id);
  });

  it('drops bad fields and keeps the record', () => {
    const { record, problems } = checkEvent({
      id: 'e2',
      customer_id: 'c1',
      email: 'nope',
      name: 'x',
      ts: TS,
      properties: 'not an object',
    });
    expect(record).not.toBeNull();
    expect(record?.email).toBeUndefined();
    expect(record?.properties).toEqual({});
    expect(problems.map((p) => [p.code, p.path])).toEqual([
      ['bad_email', 'email'],
      ['bad_type', 'properties'],
    ]);
  });

  it.each([
    [{ name: 'x', ts: TS }, 'missing_person_key', 'customer_id'],
    [{ customer_id: 'c', ts: TS }, 'missing_name', 'name'],
    [{ customer_id: 'c', name: '   ', ts: TS }, 'missing_name', 'name'],
    [{ customer_id: 'c', name: '!!!', ts: TS }, 'missing_name', 'name'],
    [{ customer_id: 'c', name: 'x', ts: 'soon' }, 'bad_timestamp', 'ts'],
    [{ customer_id: 'c', name: 'x' }, 'bad_timestamp', 'ts'],
    [{ customer_id: 'c', name: 'x'.repeat(1_000_000), ts: TS }, 'too_long', 'name'],
    ['a string', 'not_an_object', ''],
    [null, 'not_an_object', ''],
    [[1, 2], 'not_an_object', ''],
  ])('rejects %# with %s at %s', (input, code, path) => {
    const { record, problems } = checkEvent(input);
    expect(record).toBeNull();
    expect(problems.at(-1)).toMatchObject({ code, path });
  });

  it('never echoes the offending value in a message', () => {
    const secret = 'jane.secret@example.com';
    const { problems } = checkEvent({
      customer_id: { nested: secret },
      email: `${secret}@@`,
      name: 'x',
      ts: TS,
    });
    for (const p of problems) expect(p.message).not.toContain('jane.secret');
  });

  it('drops a 1 MB string field and a huge properties bag without crashing', () => {
    const big = 'x'.repeat(1024 * 1024);
    const { record, problems } = checkEvent({
      customer_id: 'c',
      anonymous_id: big,
      name: 'viewed',
      ts: TS,
      properties: { blob: big },
    });
    expect(record?.anonymous_id).toBeUndefined();
    expect(record?.properties).toEqual({});
    expect(problems.map((p) => p.code)).toEqual(['too_long', 'too_long']);
  });
});

describe('checkMessage', () => {
  it('keeps unknown metrics and coerces numeric ids', () => {
    const { record, problems } = checkMessage({
      id: '01J0000000000000000000000',
      customer_id: 'c1',
      channel: 'Email',
      metric: 'some_future_metric',
      campaign_id: 12,
      journey_id: 7,
      ts: 1_764_357_285,
    });
    expect(problems).toEqual([]);
    expect(record).toMatchObject({
      channel: 'email',
      metric: 'some_future_metric',
      campaign_id: '12',
      journey_id: '7',
    });
  });

  it.each([
    [{ customer_id: 'c', channel: 'email', metric: 'sent', ts: TS }, 'missing_id'],
    [{ id: 'm', channel: 'email', metric: 'sent', ts: TS }, 'missing_person_key'],
    [{ id: 'm', customer_id: 'c', metric: 'sent', ts: TS }, 'missing_metric'],
    [{ id: 'm', customer_id: 'c', channel: 'email', ts: TS }, 'missing_metric'],
    [{ id: 'm', customer_id: 'c', channel: 'email', metric: 'sent', ts: 'later' }, 'bad_timestamp'],
    [{ id: 'm', customer_id: 'c', channel: 'email', metric: 'sent', ts: TS, href: 'x'.repeat(1e6) }, null],
  ])('case %# → %s', (input, code) => {
    const { record, problems } = checkMessage(input);
    if (code === null) {
      expect(record).not.toBeNull();
      expect(problems[0]).toMatchObject({ code: 'too_long', path: 'href' });
    } else {
      expect(record).toBeNull();
      expect(problems.at(-1)?.code).toBe(code);
    }
  });

  it('accepts a message addressed only by email or cio_id', () => {
    expect(
      checkMessage({ id: 'm1', email: 'A@Example.com', channel: 'sms', metric: 'sent', ts: TS }).record
        ?.email,
    ).toBe('a@example.com');
    expect(
      checkMessage({ id: 'm2', cio_id: 'abc', channel: 'sms', metric: 'sent', ts: TS }).record?.cio_id,
    ).toBe('abc');
  });
});

describe('checkPerson', () => {
  it('cleans identifiers with the person’s country as phone region', () => {
    const { record, problems } = checkPerson({
      customer_id: 'c1',
      email: ' Jane@Example.com ',
      phone: '(555) 123-4567',
      country: 'us',
      first_name: ' Jane ',
      consent: { ad_user_data: 'GRANTED', ad_personalization: false },
      unsubscribed: 'false',
      ts: TS,
    });
    expect(problems).toEqual([]);
    expect(record).toEqual({
      customer_id: 'c1',
      email: 'jane@example.com',
      phone: '+15551234567',
      country: 'US',
      first_name: 'Jane',
      consent: { ad_user_data: 'granted', ad_personalization: 'denied' },
      unsubscribed: false,
      ts: TS,
    });
  });

  it('drops unparseable phones, bad countries and wrong types, keeping the rest', () => {
    const { record, problems } = checkPerson({
      customer_id: 'c1',
      phone: 'ring ring',
      country: 'Narnia',
      deleted: 'maybe',
      consent: { ad_user_data: 'perhaps' },
      attributes: [1, 2],
      city: 42,
      ts: TS,
    });
    expect(record).toEqual({ customer_id: 'c1', ts: TS });
    expect(problems.map((p) => `${p.code}@${p.path}`).sort()).toEqual(
      [
        'bad_country@country',
        'bad_phone@phone',
        'bad_type@attributes',
        'bad_type@city',
        'bad_type@deleted',
        'bad_value@consent.ad_user_data',
      ].sort(),
    );
  });

  it('rejects a person without customer_id or timestamp', () => {
    expect(checkPerson({ email: 'a@example.com', ts: TS }).problems.at(-1)?.code).toBe('missing_person_key');
    expect(checkPerson({ customer_id: 'c', ts: 'never' }).problems.at(-1)?.code).toBe('bad_timestamp');
  });
});

describe('checkMember', () => {
  it('accepts a member and rejects a broken one with a path', () => {
    expect(
      checkMember({ customer_id: 'c', group: 'holdout', score: 1.5, rank: 1, entered: '2026-11-28' }).record,
    ).not.toBeNull();
    const bad = checkMember({ customer_id: 'c', group: 'control', score: 1, rank: 0, entered: '2026-11-28' });
    expect(bad.record).toBeNull();
    expect(bad.problems[0]).toMatchObject({ code: 'bad_value', path: 'group' });
  });
});
