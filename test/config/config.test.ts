import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigFile, parseConfig, requireDestination } from '../../src/config/load-config.js';

const FIXTURE = fileURLToPath(new URL('../../fixtures/config/destinations.yaml', import.meta.url));

describe('environment', () => {
  it('applies the documented defaults', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      STORE_URL: './data',
      REDIS_URL: 'redis://127.0.0.1:6379',
      CONFIG: './audience-sync.yaml',
      PORT: 8080,
      LOG_LEVEL: 'info',
      INGEST_DEDUPE_HOURS: 24,
      API_KEYS: [],
    });
  });

  it('splits comma-separated keys and treats empty values as unset', () => {
    const env = parseEnv({ API_KEYS: ' k1 , k2,,', CIO_WEBHOOK_SIGNING_KEYS: 'new,old', PORT: '' });
    expect(env.API_KEYS).toEqual(['k1', 'k2']);
    expect(env.CIO_WEBHOOK_SIGNING_KEYS).toEqual(['new', 'old']);
    expect(env.PORT).toBe(8080);
  });

  it.each([
    [{ PORT: 'eighty' }, /^environment variable PORT /],
    [{ PORT: '70000' }, /^environment variable PORT /],
    [{ REDIS_URL: 'localhost:6379' }, /^environment variable REDIS_URL must be a redis:\/\//],
    [{ LOG_LEVEL: 'loud' }, /^environment variable LOG_LEVEL /],
    [{ S3_SSE: 'rot13' }, /^environment variable S3_SSE /],
    [{ S3_SSE: 'aws:kms' }, /S3_SSE_KMS_KEY_ID is required/],
    [{ META_GRAPH_URL: 'ftp://x' }, /^environment variable META_GRAPH_URL /],
    [{ INGEST_DEDUPE_HOURS: '-1' }, /^environment variable INGEST_DEDUPE_HOURS /],
    [{ AWS_ACCESS_KEY_ID: 'AKIA' }, /must be set together/],
  ])('stops with one line naming the variable: %j', (source, pattern) => {
    let error: unknown;
    try {
      parseEnv(source);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('audience-sync.yaml loader', () => {
  it('interpolates environment references after parsing and records unset destination secrets for later', async () => {
    const loaded = await loadConfigFile(FIXTURE, {
      env: { META_ACCESS_TOKEN: 'tok-meta', CIO_SITE_ID: 'site' },
    });
    expect(loaded.config.destinations.meta).toMatchObject({ type: 'meta', access_token: 'tok-meta' });
    expect(loaded.config.event_aliases).toEqual({
      purchase: 'order_completed',
      'Order Completed': 'order_completed',
    });
    // Loading never needs secrets; using a destination does.
    expect(requireDestination(loaded, 'meta')).toMatchObject({ access_token: 'tok-meta' });
    expect(() => requireDestination(loaded, 'google')).toThrow(
      'destination "google" needs environment variable GOOGLE_ADS_DEVELOPER_TOKEN (destinations.google.developer_token), which is not set',
    );
    expect(() => requireDestination(loaded, 'cio')).toThrow(/CIO_API_KEY/);
    expect(() => requireDestination(loaded, 'nope')).toThrow(
      /destination "nope" is not defined \(defined: meta, google, tiktok, cio\)/,
    );
  });

  it('names the YAML path of a schema error', () => {
    const text = 'version: 1\ndestinations:\n  meta:\n    type: facebook\n';
    expect(() => parseConfig(text, 'audience-sync.yaml', { env: {} })).toThrow(
      /^audience-sync\.yaml: destinations\.meta\.type: /,
    );
  });

  it('rejects unknown top-level keys and a wrong version', () => {
    expect(() => parseConfig('version: 1\naudiencez: []\n', 'c.yaml', { env: {} })).toThrow(
      /c\.yaml: .*audiencez/,
    );
    expect(() => parseConfig('version: 2\n', 'c.yaml', { env: {} })).toThrow(
      /c\.yaml: version: version must be 1/,
    );
  });

  it('names the line of a YAML syntax error and hints at unquoted references', () => {
    expect(() =>
      parseConfig('version: 1\ndestinations: { meta: { token: ${X} } }\n', 'c.yaml', { env: {} }),
    ).toThrow(/^c\.yaml:2:\d+: invalid YAML: .*quotes/);
  });

  it('fails naming the path for an unset variable outside destinations', () => {
    const text = 'version: 1\nevent_aliases:\n  purchase: "${ALIAS_TARGET}"\n';
    expect(() => parseConfig(text, 'c.yaml', { env: {} })).toThrow(
      'c.yaml: event_aliases.purchase: environment variable ALIAS_TARGET is not set',
    );
  });

  it('says plainly when the file does not exist', async () => {
    await expect(loadConfigFile('/nonexistent/audience-sync.yaml')).rejects.toThrow(
      /does not exist \(set CONFIG/,
    );
  });
});
