import { describe, expect, it } from 'vitest';
import { batchSizeFor, chunk } from '../../connectors/core/batching.js';
import { mayAddToGoogle, rowConsent } from '../../connectors/core/consent.js';
import { createConnectorContext } from '../../connectors/core/context.js';
import {
  AudienceGoneError,
  AuthError,
  ConnectorConfigError,
  InvalidPayloadError,
  PlatformError,
  RateLimitedError,
  RetryableError,
  retryDelayMs,
} from '../../connectors/core/errors.js';
import { withRetries } from '../../connectors/core/retry.js';
import { customerioConnector } from '../../connectors/customerio/index.js';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { metaConnector } from '../../connectors/meta/index.js';
import { openDestination } from '../../connectors/open.js';
import { getConnector } from '../../connectors/registry.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import { scrubMessage } from '../../src/contract/scrub.js';
import { recordingSleep, silentLog } from './helpers.js';

describe('typed errors', () => {
  it('carry their retry behaviour', () => {
    const d = { connector: 'x' };
    expect(new RetryableError('a', d, 5).retry).toBe(true);
    expect(new RateLimitedError('a', d, 7).kind).toBe('rate_limited');
    for (const e of [
      new AuthError('a', d),
      new InvalidPayloadError('a', d),
      new AudienceGoneError('a', d, 'id'),
      new PlatformError('a', d),
      new ConnectorConfigError('a', d),
    ]) {
      expect(e.retry).toBe(false);
      expect(retryDelayMs(e)).toBeUndefined();
    }
    expect(retryDelayMs(new RateLimitedError('a', d, 7))).toBe(7);
    expect(
      JSON.parse(JSON.stringify(new RateLimitedError('slow down', { connector: 'meta', code: 17 }, 9))),
    ).toMatchObject({
      kind: 'rate_limited',
      retry: true,
      delayMs: 9,
      code: 17,
      connector: 'meta',
      message: 'slow down',
    });
  });

  it('scrub emails, phone numbers and credentials from platform text, keeping hashes and ids', () => {
    const hash = 'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210';
    const text = `user Jane.Doe@example.com (+1 415-555-0100, (415) 555-0101) hash ${hash} audience 23850000000000001 token=EAAGm0PX4ZCpsBAKZC0abcdefghijklmnopqrstu Bearer ya29.a0AfH6SMBxyz123456 access_token=abc123`;
    const s = scrubMessage(text);
    expect(s).not.toMatch(/Jane\.Doe|415|EAAGm0PX|ya29\.a0|abc123/);
    expect(s).toContain(hash);
    expect(s).toContain('23850000000000001');
    expect(new AuthError(text, { connector: 'x' }).message).toBe(s);
  });
});

describe('withRetries', () => {
  it('retries retryable and rate-limited errors with growing delays, and stops at fatal ones', async () => {
    const { sleep, waits } = recordingSleep();
    let calls = 0;
    const result = await withRetries(
      async () => {
        calls++;
        if (calls === 1) throw new RateLimitedError('slow', { connector: 'x' }, 1000);
        if (calls === 2) throw new RetryableError('blip', { connector: 'x' }, 1000);
        return 'ok';
      },
      { sleep },
    );
    expect(result).toBe('ok');
    expect(waits).toEqual([1000, 2000]);
    calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new AuthError('expired', { connector: 'x' });
        },
        { sleep },
      ),
    ).rejects.toBeInstanceOf(AuthError);
    expect(calls).toBe(1);
    await expect(
      withRetries(async () => Promise.reject(new RetryableError('always', { connector: 'x' }, 10)), {
        sleep,
        maxAttempts: 3,
        maxDelayMs: 15,
      }),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(waits.slice(2)).toEqual([10, 15]);
  });
});

describe('context and destinations', () => {
  it('base URLs come from the env overrides, falling back to the real platforms', () => {
    const config = { type: 'meta', ad_account_id: '123', access_token: 't' };
    expect(createConnectorContext(metaConnector, { destination: 'm', config, env: {} }).urls).toEqual({
      graph: 'https://graph.facebook.com',
    });
    expect(
      createConnectorContext(metaConnector, {
        destination: 'm',
        config,
        env: { META_GRAPH_URL: 'http://127.0.0.1:9/' },
      }).urls,
    ).toEqual({ graph: 'http://127.0.0.1:9' });
    expect(createConnectorContext(metaConnector, { destination: 'm', config, env: {} }).config).toMatchObject(
      { ad_account_id: 'act_123' },
    );
    const google = createConnectorContext(googleAdsConnector, {
      destination: 'g',
      config: { type: 'google_ads', customer_id: '123-456-7890', developer_token: 'd', access_token: 'a' },
      env: { GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9/token' },
    });
    expect(google.urls).toEqual({
      api: 'https://googleads.googleapis.com',
      oauth: 'http://127.0.0.1:9/token',
    });
    expect(
      createConnectorContext(tiktokConnector, {
        destination: 't',
        config: { type: 'tiktok', advertiser_id: 1, access_token: 'x' },
        env: {},
      }).urls.api,
    ).toBe('https://business-api.tiktok.com');
    expect(
      createConnectorContext(customerioConnector, {
        destination: 'c',
        config: { type: 'customerio', site_id: 's', api_key: 'k' },
        env: {},
      }).urls.track,
    ).toBe('https://track.customer.io');
  });

  it('config errors name the YAML path and what is wrong', () => {
    expect(() =>
      createConnectorContext(googleAdsConnector, {
        destination: 'google',
        config: { type: 'google_ads', customer_id: '12', developer_token: 'x' },
        env: {},
      }),
    ).toThrow(
      /destination "google" \(google_ads\): destinations\.google\.customer_id: must be a 10-digit customer id/,
    );
    expect(() =>
      createConnectorContext(metaConnector, {
        destination: 'meta',
        config: { type: 'meta', ad_account_id: 'act_1', access_token: '${META_ACCESS_TOKEN}' },
        env: {},
      }),
    ).toThrow(/destinations\.meta\.access_token: references an environment variable that is not set/);
    expect(() =>
      createConnectorContext(metaConnector, {
        destination: 'meta',
        config: { type: 'meta', ad_account_id: 'act_1', access_token: 'x', batch_size: 20_000 },
        env: {},
      }),
    ).toThrow(/batch_size: must be at most 10000/);
    expect(() => getConnector('snapchat')).toThrow(/unknown destination type "snapchat"/);
  });

  it('openDestination binds the connector and reports the batch size', () => {
    const d = openDestination({
      name: 'tt',
      config: { type: 'tiktok', advertiser_id: '7', access_token: 'x', batch_size: 500 },
      env: {},
      log: silentLog,
    });
    expect(d).toMatchObject({ name: 'tt', type: 'tiktok', dryRun: false, batchSize: 500 });
    expect(d.capabilities.replaceStrategy).toBe('file_replace');
    expect(typeof d.replace).toBe('function');
    const cio = openDestination({
      name: 'cio',
      config: { type: 'customerio', site_id: 's', api_key: 'k' },
      env: {},
      log: silentLog,
    });
    expect(cio.replace).toBeUndefined();
    expect(cio.matchKeys({ customer_id: 'c1', ts: '2026-01-01T00:00:00.000Z' })).toEqual({
      external_id: 'c1',
    });
  });

  it('batch helpers', () => {
    expect([...chunk([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
    expect(batchSizeFor({ maxBatchSize: 100 }, { batch_size: 500 })).toBe(100);
    expect(batchSizeFor({ maxBatchSize: 100 }, {})).toBe(100);
    expect(() => [...chunk([1], 0)]).toThrow(RangeError);
  });

  it('Google consent: EEA people need both grants; a denial anywhere means remove', () => {
    expect(
      mayAddToGoogle(
        rowConsent({ country: 'DE', consent: { ad_user_data: 'granted', ad_personalization: 'granted' } }),
      ),
    ).toBe(true);
    expect(mayAddToGoogle(rowConsent({ country: 'DE', consent: { ad_user_data: 'granted' } }))).toBe(false);
    expect(mayAddToGoogle(rowConsent({ country: 'US' }))).toBe(true);
    expect(mayAddToGoogle(rowConsent({ country: 'US', consent: { ad_personalization: 'denied' } }))).toBe(
      false,
    );
    expect(rowConsent({ country: 'NO' })).toEqual({
      adUserData: 'UNSPECIFIED',
      adPersonalization: 'UNSPECIFIED',
      eea: true,
    });
  });
});
