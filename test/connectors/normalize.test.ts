import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSha256Hex, normalizeEmail, sha256Hex } from '../../connectors/core/normalize.js';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { hashIdentifier } from '../../connectors/hash-identifier.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import { person } from './helpers.js';

/** The normalized value and hash one platform produces for one field. */
function hashed(platform: string, field: string, value: string, country?: string) {
  const result = hashIdentifier(platform, field, value, { country: country ?? null });
  return { normalized: result.keys[0]!.normalized, value: result.keys[0]!.value };
}

function normalized(platform: string, field: string, value: string, country?: string): string | null {
  try {
    return hashed(platform, field, value, country).normalized;
  } catch {
    return null;
  }
}

describe('hash vectors of docs/identifiers.md', () => {
  it.each([
    [
      'meta',
      'email',
      'user1@example.com',
      undefined,
      'user1@example.com',
      'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210',
    ],
    [
      'meta',
      'phone',
      '+1-555-123-4567',
      undefined,
      '15551234567',
      'd6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a',
    ],
    [
      'meta',
      'last_name',
      'Doe',
      undefined,
      'doe',
      '799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f',
    ],
    [
      'meta',
      'city',
      'San Francisco',
      undefined,
      'sanfrancisco',
      '1a6bd4d9d79dc0a79b53795c70d3349fa9e38968a3fbefbfe8783efb1d2b6aac',
    ],
    [
      'meta',
      'region',
      'California',
      undefined,
      'ca',
      '6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126',
    ],
    [
      'meta',
      'country',
      'US',
      undefined,
      'us',
      '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621',
    ],
    [
      'meta',
      'gender',
      'male',
      undefined,
      'm',
      '62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a',
    ],
    [
      'meta',
      'postal_code',
      '92000',
      undefined,
      '92000',
      'ad16c1a6866c5887c5b59c1803cb1fc09769f1b403b6f1d9d0f10ad6ab4d5d50',
    ],
    [
      'google',
      'email',
      'test@gmail.com',
      undefined,
      'test@gmail.com',
      '87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674',
    ],
    [
      'google',
      'phone',
      '(800) 555-0100',
      'US',
      '+18005550100',
      'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30',
    ],
    [
      'google',
      'phone',
      '3234567890',
      'US',
      '+13234567890',
      '0506a1f3f4c515fd310fce54d253b731f71e33e7e7d2b10848528ca4411120b0',
    ],
    [
      'tiktok',
      'email',
      'janedoe@gmail.com',
      undefined,
      'janedoe@gmail.com',
      'd6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69',
    ],
    [
      'tiktok',
      'phone',
      '(657)777-0000',
      'US',
      '16577770000',
      '8d7bdaaf75196f351d22942fc0dd79304ffabc3eaf3339460ef9da0773e3aec2',
    ],
    [
      'tiktok',
      'maid',
      '5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25',
      undefined,
      '5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25',
      '83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd',
    ],
  ])('%s %s %j → %s', (platform, field, input, country, expectedNormalized, expectedHash) => {
    expect(hashed(platform, field, input, country)).toEqual({
      normalized: expectedNormalized,
      value: expectedHash,
    });
  });

  it('matchKeys produces the same vectors from a person record', () => {
    const p = person('c1', {
      email: 'user1@example.com',
      phone: '+15551234567',
      last_name: 'Doe',
      city: 'San Francisco',
      region: 'California',
      country: 'US',
      postal_code: '92000',
      attributes: { gender: 'male' },
    });
    expect(metaConnector.matchKeys(p)).toMatchObject({
      email: 'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210',
      phone: 'd6736136ea896c1bfdc553e0e86e702c70d060d805696ca3e4e9e0961353860a',
      last_name: '799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f',
      city: '1a6bd4d9d79dc0a79b53795c70d3349fa9e38968a3fbefbfe8783efb1d2b6aac',
      region: '6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126',
      country: '79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621',
      gender: '62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a',
      postal_code: 'ad16c1a6866c5887c5b59c1803cb1fc09769f1b403b6f1d9d0f10ad6ab4d5d50',
    });
    expect(
      googleAdsConnector.matchKeys(
        person('g', { email: 'test@gmail.com', phone: '+18005550100', country: 'US' }),
      ),
    ).toEqual({
      email: '87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674',
      phone: 'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30',
    });
    expect(
      tiktokConnector.matchKeys(
        person('t', {
          email: 'janedoe@gmail.com',
          phone: '+16577770000',
          maid: '5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25',
        }),
      ),
    ).toEqual({
      email: 'd6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69',
      phone: '8d7bdaaf75196f351d22942fc0dd79304ffabc3eaf3339460ef9da0773e3aec2',
      maid: '83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd',
    });
  });
});

describe('email rules', () => {
  it.each([
    ['  User1@Example.COM ', 'user1@example.com'],
    ['\tuser1@example.com\n', 'user1@example.com'],
    ['USER1@EXAMPLE.COM', 'user1@example.com'],
  ])('trims and lowercases %j for every platform', (input, expected) => {
    expect(normalized('meta', 'email', input)).toBe(expected);
    expect(normalized('google', 'email', input)).toBe(expected);
    expect(normalized('tiktok', 'email', input)).toBe(expected);
  });

  it.each([
    ['Jane.Doe+promo@gmail.com', 'janedoe@gmail.com'],
    ['j.a.n.e@googlemail.com', 'jane@googlemail.com'],
    ['JANE.DOE@GMAIL.COM', 'janedoe@gmail.com'],
    ['jane.doe+x@example.com', 'jane.doe+x@example.com'],
  ])('google drops gmail dots and +suffix only for gmail domains: %j', (input, expected) => {
    expect(normalized('google', 'email', input)).toBe(expected);
  });

  it.each([
    ['Jane.Doe+promo@gmail.com', 'jane.doe@gmail.com'],
    ['shop+news@example.com', 'shop@example.com'],
    ['plain@example.com', 'plain@example.com'],
  ])('tiktok drops a +suffix on any domain, keeps dots: %j', (input, expected) => {
    expect(normalized('tiktok', 'email', input)).toBe(expected);
  });

  it('meta keeps dots and +suffix', () => {
    expect(normalized('meta', 'email', 'Jane.Doe+promo@gmail.com')).toBe('jane.doe+promo@gmail.com');
  });

  it.each([
    'not-an-email',
    'a@b',
    '@example.com',
    'two@@example.com',
    'sp ace@example.com',
    'x@example.c',
    '',
  ])('rejects %j', (input) => {
    expect(normalizeEmail(input)).toBeNull();
    expect(() => hashIdentifier('meta', 'email', input)).toThrow(/not usable for meta: expected an address/);
  });

  it('passes a pre-hashed value through (anchored 64-hex check before cleaning), lowercased', () => {
    const upper = sha256Hex('someone@example.com').toUpperCase();
    const r = hashIdentifier('meta', 'email', upper);
    expect(r.prehashed).toBe(true);
    expect(r.keys[0]!.value).toBe(upper.toLowerCase());
    expect(isSha256Hex(`${upper.slice(1)}`)).toBe(false);
    expect(isSha256Hex(`${upper}0`)).toBe(false);
    expect(isSha256Hex(`${upper.slice(1)}g`)).toBe(false);
  });
});

describe('phone rules', () => {
  it.each([
    ['meta', '+44 20 7946 0018', undefined, '442079460018'],
    ['meta', '020 7946 0018', 'GB', '442079460018'],
    ['meta', '0044 20 7946 0018', undefined, '442079460018'],
    ['meta', '15551234567', undefined, '15551234567'],
    ['meta', '(415) 555-0100', 'US', '14155550100'],
    ['google', '020 7946 0018', 'GB', '+442079460018'],
    ['google', '+49 30 901820', undefined, '+4930901820'],
    ['google', '06 12 34 56 78', 'FR', '+33612345678'],
    ['tiktok', '+1 (657) 777-0000', undefined, '16577770000'],
    ['tiktok', '0612345678', 'FR', '33612345678'],
  ])('%s %j (%s) → %s', (platform, input, country, expected) => {
    expect(normalized(platform, 'phone', input, country)).toBe(expected);
  });

  it('meta and tiktok phones are digits only, never a + or a leading zero; google keeps the +', () => {
    for (const platform of ['meta', 'tiktok'])
      expect(normalized(platform, 'phone', '+33 6 12 34 56 78')).toMatch(/^[1-9]\d+$/);
    expect(normalized('google', 'phone', '+33 6 12 34 56 78')).toBe('+33612345678');
  });

  it.each(['12', 'call me', '+1 555', ''])('rejects %j', (input) => {
    expect(normalized('meta', 'phone', input, 'US')).toBeNull();
  });
});

describe('name, place and other rules', () => {
  it.each([
    ['José', 'josé'],
    ["O'Brien-Smith", 'obriensmith'],
    ['  Mary Ann ', 'maryann'],
    ['Zoë', 'zoë'],
    ['Zoe\u0308', 'zoë'],
    ['Дмитрий', 'дмитрий'],
    ['Jr. 3rd', 'jrrd'],
  ])('meta names keep lowercase letters only (non-ASCII kept, NFC): %j', (input, expected) => {
    expect(normalized('meta', 'last_name', input)).toBe(expected);
  });

  it('decomposed and composed spellings hash the same', () => {
    expect(hashed('meta', 'first_name', 'Zoe\u0308').value).toBe(hashed('meta', 'first_name', 'Zoë').value);
  });

  it('meta first name also yields the first initial (FI)', () => {
    const keys = hashIdentifier('meta', 'first_name', 'Émile').keys;
    expect(keys.map((k) => [k.platformKey, k.normalized])).toEqual([
      ['FN', 'émile'],
      ['FI', 'é'],
    ]);
  });

  it('google names are trimmed and lowercased only', () => {
    expect(normalized('google', 'first_name', '  Mary  Ann ')).toBe('mary ann');
    expect(normalized('google', 'last_name', "O'Brien")).toBe("o'brien");
  });

  it.each([
    ['San Francisco', 'sanfrancisco'],
    ['São Paulo', 'sãopaulo'],
    ['St. Louis', 'stlouis'],
  ])('city %j → %j', (input, expected) => {
    expect(normalized('meta', 'city', input)).toBe(expected);
  });

  it.each([
    ['California', 'ca'],
    ['new york', 'ny'],
    ['CA', 'ca'],
    ['District of Columbia', 'dc'],
    ['Bavaria', 'bavaria'],
  ])('region %j → %j', (input, expected) => {
    expect(normalized('meta', 'region', input)).toBe(expected);
  });

  it.each([
    ['94105-1234', 'US', '94105'],
    [' 94105 ', undefined, '94105'],
    ['SW1A 1AA', 'GB', 'sw1a1aa'],
    ['75001', 'FR', '75001'],
    ['1234', 'US', null],
  ])('meta postal code %j (%s) → %j', (input, country, expected) => {
    expect(normalized('meta', 'postal_code', input, country)).toBe(expected);
  });

  it('google postal and country codes are sent unhashed', () => {
    const zip = hashIdentifier('google', 'postal_code', '94105-1234', { country: 'US' }).keys[0]!;
    expect(zip).toMatchObject({ normalized: '94105', value: '94105', hashed: false });
    const country = hashIdentifier('google', 'country', 'united states').keys[0]!;
    expect(country).toMatchObject({ value: 'US', hashed: false });
  });

  it.each([
    ['US', 'us'],
    ['United Kingdom', 'gb'],
    ['uk', 'gb'],
    ['germany', 'de'],
  ])('meta country %j → %j', (input, expected) => {
    expect(normalized('meta', 'country', input)).toBe(expected);
  });

  it.each([
    ['Female', 'f'],
    ['M', 'm'],
    ['x', null],
  ])('gender %j → %j', (input, expected) => {
    expect(normalized('meta', 'gender', input)).toBe(expected);
  });

  it('birth date becomes hashed year, month and day', () => {
    const keys = hashIdentifier('meta', 'birth_date', '1990-7-4').keys;
    expect(keys.map((k) => [k.platformKey, k.normalized, k.value])).toEqual([
      ['DOBY', '1990', sha256Hex('1990')],
      ['DOBM', '07', sha256Hex('07')],
      ['DOBD', '04', sha256Hex('04')],
    ]);
    expect(normalized('meta', 'birth_date', '1990-02-30')).toBeNull();
  });

  it('meta sends MADID lowercase and unhashed; tiktok hashes it; bad ids are refused', () => {
    expect(hashIdentifier('meta', 'maid', '5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25').keys[0]).toMatchObject({
      value: '5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25',
      hashed: false,
    });
    expect(normalized('tiktok', 'maid', 'not-a-maid')).toBeNull();
    expect(normalized('meta', 'maid', '00000000-0000-0000-0000-000000000000')).toBeNull();
  });

  it('names a field a platform does not use', () => {
    expect(() => hashIdentifier('tiktok', 'city', 'Paris')).toThrow(/tiktok does not match on city/);
    expect(() => hashIdentifier('snapchat', 'email', 'a@example.com')).toThrow(/unknown platform/);
  });
});

describe('properties', () => {
  it('every hashed key is 64 lowercase hex, and no key echoes its raw input', () => {
    fc.assert(
      fc.property(
        fc.record({
          local: fc.stringMatching(/^[a-zA-Z0-9._+-]{1,20}$/),
          domain: fc.constantFrom('gmail.com', 'Example.ORG', 'shop.co.uk'),
        }),
        fc.string({ minLength: 1, maxLength: 20 }),
        ({ local, domain }, name) => {
          const p = person('c', { email: `${local}@${domain}`, first_name: name, last_name: name });
          for (const connector of [metaConnector, googleAdsConnector, tiktokConnector]) {
            const keys = connector.matchKeys(p) ?? {};
            for (const [identifier, value] of Object.entries(keys)) {
              if (['email', 'phone', 'first_name', 'last_name'].includes(identifier))
                expect(value).toMatch(/^[0-9a-f]{64}$/);
              expect(value).not.toBe(p.email);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('normalizing an email twice changes nothing', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (email) => {
        const once = normalizeEmail(email);
        if (once !== null) expect(normalizeEmail(once)).toBe(once);
      }),
      { numRuns: 500 },
    );
  });
});
