import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyUpdate, emptyPerson, toSnapshotPerson } from '../../src/people/merge.js';
import { peekSnapshotBytes, peekSnapshotLine } from '../../src/people/snapshot-line.js';

/** Strings that try to look like the keys the peek looks for. */
const tricky = fc.oneof(
  fc.string(),
  fc.constantFrom(
    ',"deleted":true',
    '","deleted":true',
    '\\',
    '\\"',
    ',"consent":{',
    '{',
    '"unsubscribed":true}',
  ),
);

describe('reading an unchanged snapshot line without parsing it', () => {
  it('agrees with JSON.parse on every line toSnapshotPerson writes, or declines', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.stringMatching(/^cus_[a-z0-9]{1,8}$/),
          fc.string({ minLength: 1 }),
          fc.string({ minLength: 1, unit: 'binary' }),
        ),
        fc.record(
          {
            first_name: tricky,
            city: tricky,
            deleted: fc.boolean(),
            unsubscribed: fc.boolean(),
            consent: fc.record({ ad_user_data: fc.constantFrom('granted', 'denied') }, { requiredKeys: [] }),
            attributes: fc.dictionary(
              fc.oneof(tricky, fc.constantFrom('deleted', 'unsubscribed')),
              fc.oneof(fc.boolean(), tricky),
            ),
          },
          { requiredKeys: [] },
        ),
        (id, fields) => {
          const person = emptyPerson(id);
          applyUpdate(person, { customer_id: id, ts: '2026-03-10T10:00:00.000Z', ...fields } as never);
          const text = JSON.stringify(toSnapshotPerson(person));
          const parsed = JSON.parse(text);
          const peek = peekSnapshotLine(text);
          // The merge reads the same line as bytes: the two forms agree, whatever the characters.
          expect(peekSnapshotBytes(Buffer.from(text))).toEqual(peek);
          if (/^cus_/.test(id)) expect(peek).toBeDefined();
          if (peek)
            expect(peek).toEqual({
              customer_id: parsed.customer_id,
              deleted: parsed.deleted === true,
              unsubscribed: parsed.unsubscribed === true,
            });
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('declines a line in another form', () => {
    for (const line of [
      '{"email":"a@b.c","customer_id":"x"}',
      '{"customer_id":"a\\"b"}',
      'not json',
      '{"customer_id":"x',
    ]) {
      expect(peekSnapshotLine(line)).toBeUndefined();
      expect(peekSnapshotBytes(Buffer.from(line))).toBeUndefined();
    }
  });

  it('reads an id with characters beyond ASCII, and a backslash after the id does not matter', () => {
    const line =
      '{"customer_id":"cüs_😀","first_name":"a\\\\b","deleted":true,"ts":"2026-03-10T10:00:00.000Z"}';
    const expected = { customer_id: 'cüs_😀', deleted: true, unsubscribed: false };
    expect(peekSnapshotLine(line)).toEqual(expected);
    expect(peekSnapshotBytes(Buffer.from(line))).toEqual(expected);
  });
});
