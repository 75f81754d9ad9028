import fc from 'fast-check';

/**
 * JSON *text* generators: they write number literals JSON.stringify never produces (`1e400`,
 * 30-digit integers), duplicate keys, `__proto__` / `constructor` / `prototype` keys, lone
 * surrogates, and keys the ingest mappers look for, so random bodies reach past the shape checks.
 */

/** Values that stand for personal data: none of them may come back in an answer or a log line. */
export const SECRETS = {
  email: 'fuzz.secret.ada@example.com',
  phone: '+1 555 013 2469',
  name: 'Zenobia Secretname',
} as const;
export const SECRET_VALUES: readonly string[] = [SECRETS.email, SECRETS.phone, SECRETS.name, 'Secretname'];

export const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
];

/** Keys the routes read (track, identify, Segment, Track API v1/v2, webhooks). */
export const ROUTE_KEYS = [
  'batch',
  'type',
  'name',
  'event',
  'id',
  'userId',
  'anonymousId',
  'messageId',
  'previousId',
  'customer_id',
  'anonymous_id',
  'data',
  'properties',
  'traits',
  'context',
  'attributes',
  'timestamp',
  'ts',
  '_timestamp',
  'sentAt',
  'originalTimestamp',
  'identifiers',
  'action',
  'object_type',
  'metric',
  'event_id',
  'consent',
  'country',
  'address',
  'groupId',
  'href',
];
const PII_KEYS = ['email', 'phone', 'first_name', 'last_name', 'firstName', 'lastName'];

const json = (s: string) => JSON.stringify(s);

/** Strings that mean something to the mappers or the contract. */
const MEANINGFUL = [
  'track',
  'identify',
  'page',
  'screen',
  'group',
  'alias',
  'person',
  'event',
  'delete',
  'suppress',
  'customer',
  'email',
  'unsubscribed',
  'subscribed',
  'sent',
  'Order Completed',
  'cust-1',
  'cust-2',
  '2026-01-02T03:04:05Z',
  '1764357285',
  '1764357285000',
  'granted',
  'denied',
  'US',
  ...HOSTILE_KEYS,
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...MEANINGFUL) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  // Longer than every field limit (ids 256, names 200, text 2000), short enough to stay quick.
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

export const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.double({ noNaN: true }).map((n) => (Number.isFinite(n) ? JSON.stringify(n) : '1e400')),
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1e-400',
    '-0',
    '9007199254740993',
    '123456789012345678901234567890',
    '1764357285',
    '1764357285000',
    '17643572850000000',
  ),
);

const piiText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(SECRETS.email, SECRETS.phone, SECRETS.name).map(json),
  fc.constant(json(`  ${SECRETS.email.toUpperCase()} `)),
);

export interface JsonTextOptions {
  maxDepth?: number;
  maxKeys?: number;
}

/** Random JSON text (a value of any type), keys biased to what the routes read. */
export function jsonText(options: JsonTextOptions = {}): fc.Arbitrary<string> {
  const maxKeys = options.maxKeys ?? 6;
  const { value } = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: options.maxDepth ?? 4, withCrossShrink: true },
      fc.constantFrom('null', 'true', 'false'),
      numberText,
      hostileString.map(json),
      tie('object'),
      tie('array'),
    ),
    array: fc.array(tie('value'), { maxLength: 5 }).map((items) => `[${items.join(',')}]`),
    object: fc
      .array(
        fc.oneof(
          fc.tuple(fc.constantFrom(...ROUTE_KEYS), tie('value')),
          fc.tuple(fc.constantFrom(...PII_KEYS), fc.oneof(piiText, tie('value'))),
          fc.tuple(fc.constantFrom(...HOSTILE_KEYS), tie('value')),
          fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }), tie('value')),
        ),
        { maxLength: maxKeys },
      )
      .map((entries) => `{${entries.map(([k, v]) => `${json(k)}:${v}`).join(',')}}`),
  }));
  return value;
}

/** A JSON object text: what most routes take, so more runs get past the envelope check. */
export function objectText(options: JsonTextOptions = {}): fc.Arbitrary<string> {
  const entry = fc.oneof(
    fc.tuple(fc.constantFrom(...ROUTE_KEYS, ...PII_KEYS), jsonText(options)),
    fc.tuple(fc.constantFrom(...PII_KEYS), piiText),
  );
  return fc
    .array(entry, { maxLength: options.maxKeys ?? 8 })
    .map((entries) => `{${entries.map(([k, v]) => `${json(k)}:${v}`).join(',')}}`);
}

/** Nesting of `depth` levels of arrays and objects around a value. */
export function nested(depth: number, inner = '1', objects = false): string {
  if (!objects) return '['.repeat(depth) + inner + ']'.repeat(depth);
  return '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
}
