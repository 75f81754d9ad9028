import { describe, expect, it } from 'vitest';
import {
  correctedTimestamp,
  isSegmentBody,
  segmentMessage,
  traitsToPerson,
} from '../../src/ingest/segment.js';

const receivedAt = '2026-11-28T12:00:00.000Z';

describe('Segment mapping', () => {
  it('corrects clock skew only with originalTimestamp and sentAt; an explicit timestamp is kept', () => {
    // Sender clock 10 minutes fast, 2 s between the call and the send.
    const skewed = { originalTimestamp: '2026-11-28T12:10:00.000Z' };
    expect(correctedTimestamp(skewed, '2026-11-28T12:10:02.000Z', receivedAt)).toBe(
      '2026-11-28T11:59:58.000Z',
    );
    expect(correctedTimestamp({ ...skewed, sentAt: '2026-11-28T12:10:01.000Z' }, undefined, receivedAt)).toBe(
      '2026-11-28T11:59:59.000Z',
    );
    expect(
      correctedTimestamp({ timestamp: '2025-01-01T00:00:00Z' }, '2026-11-28T12:10:02.000Z', receivedAt),
    ).toBe('2025-01-01T00:00:00Z');
    expect(correctedTimestamp({}, undefined, receivedAt)).toBe(receivedAt);
    // Unusable originals are passed on, so the contract check rejects them by name.
    expect(correctedTimestamp({ originalTimestamp: 'soon' }, receivedAt, receivedAt)).toBe('soon');
  });

  it('maps traits to person fields, the rest to attributes', () => {
    expect(
      traitsToPerson({
        email: 'a@b.co',
        name: 'Ada King Lovelace',
        address: { city: 'London', state: 'LDN', postalCode: 'N1', country: 'GB', street: '1 Way' },
        plan: 'pro',
      }),
    ).toEqual({
      email: 'a@b.co',
      first_name: 'Ada',
      last_name: 'King Lovelace',
      city: 'London',
      region: 'LDN',
      postal_code: 'N1',
      country: 'GB',
      street: '1 Way',
      plan: 'pro',
    });
    expect(traitsToPerson({ firstName: 'Al', name: 'Company Inc' })).toEqual({
      first_name: 'Al',
      name: 'Company Inc',
    });
  });

  it('tells Segment bodies from the project’s own shapes', () => {
    expect(isSegmentBody({ userId: 'u', event: 'e' })).toBe(true);
    expect(isSegmentBody({ anonymousId: 'a', traits: {} })).toBe(true);
    expect(isSegmentBody({ customer_id: 'c', name: 'n' })).toBe(false);
    expect(isSegmentBody({ userId: 'u', name: 'n', data: {} })).toBe(false);
    expect(isSegmentBody({ batch: [] })).toBe(false);
  });

  it('builds alias, track-with-traits and refused messages', () => {
    expect(segmentMessage({ type: 'alias', userId: 'u2', previousId: 'a1' }, { receivedAt })).toMatchObject({
      primary: 'person',
      person: { customer_id: 'u2' },
      mergedFrom: 'a1',
    });
    const track = segmentMessage(
      { userId: 'u', event: 'Order Completed', messageId: 'm1', context: { traits: { email: 'x@y.io' } } },
      { receivedAt, type: 'track' },
    );
    expect(track).toMatchObject({
      primary: 'event',
      event: { id: 'm1', customer_id: 'u', email: 'x@y.io', name: 'Order Completed' },
      person: { customer_id: 'u', email: 'x@y.io' },
    });
    expect(segmentMessage({ type: 'alias', userId: 'u' }, { receivedAt }).problem?.path).toBe('previousId');
    expect(segmentMessage({ type: 'teleport' }, { receivedAt }).problem?.path).toBe('type');
  });
});
