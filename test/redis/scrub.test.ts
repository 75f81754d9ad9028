import { describe, expect, it } from 'vitest';
import { describeRedisEndpoint, redactRedisUrl, scrubRedisSecrets } from '../../src/redis/scrub.js';

describe('Redis credentials in messages', () => {
  it('scrubRedisSecrets removes the password, the username and the user-info of any Redis URL', () => {
    const text =
      'WRONGPASS for alice with hunter2-pw; reconnecting to rediss://alice:hunter2-pw@cache:6380/10 and redis://:other-pw@h:1';
    const out = scrubRedisSecrets(text, { password: 'hunter2-pw', username: 'alice' });
    expect(out).not.toContain('hunter2-pw');
    expect(out).not.toContain('alice');
    expect(out).not.toContain('other-pw');
    expect(out).toBe(
      'WRONGPASS for [redacted] with [redacted]; reconnecting to rediss://[redacted]@cache:6380/10 and redis://[redacted]@h:1',
    );
  });

  it('leaves a text without secrets as it is', () => {
    expect(scrubRedisSecrets('connect ECONNREFUSED 127.0.0.1:6379', { password: undefined })).toBe(
      'connect ECONNREFUSED 127.0.0.1:6379',
    );
  });

  it('describes an endpoint by host, port, database and TLS only', () => {
    const endpoint = { host: 'cache', port: 6380, db: 10, tls: true, password: 'pw-x', username: 'bob' };
    expect(describeRedisEndpoint(endpoint)).toBe('Redis at rediss://cache:6380/10');
    expect(describeRedisEndpoint({ host: '127.0.0.1', port: 6379, db: 0 })).toBe('Redis at 127.0.0.1:6379');
  });

  it('redacts a REDIS_URL for messages', () => {
    expect(redactRedisUrl('rediss://bob:pw-x@cache:6380/10')).toBe('rediss://[redacted]@cache:6380/10');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('redis://:p w@x')).not.toContain('p w');
  });
});
