import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runConsecutiveSyncs } from './consecutive-syncs.js';
import { redisSupportsTls, startTestRedis, type TestRedisServer } from './server.js';

/**
 * `audience-sync sync` run again and again, a new process each time, against the fake Meta: with
 * REDIS_URL on database 10, on a password-protected Redis, and over TLS when the build has it.
 * The lock connection used to fail at random before it was ready ("Stream isn't writeable ...").
 * The figures for 50 runs each come from `npx tsx test/redis/consecutive-syncs.ts 50`.
 */
const tls = await redisSupportsTls();
/** A run (a new process) takes about two seconds: a few of each, so the test stays well under a minute. */
const RUNS = 5;
const TLS_RUNS = 2;

describe('consecutive CLI syncs', () => {
  let server: TestRedisServer;
  beforeAll(async () => {
    server = await startTestRedis({ tls });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('succeed every time with redis://…/10 and with a password-protected Redis (and rediss://)', async () => {
    const db10 = new URL(inject('redisUrl'));
    db10.pathname = '/10';
    // The chains run side by side: each is sequential, as a user's runs are.
    const results = await Promise.all([
      runConsecutiveSyncs({ label: 'db 10', redisUrl: db10.toString(), runs: RUNS }),
      runConsecutiveSyncs({ label: 'password', redisUrl: `${server.url}/10`, runs: RUNS }),
      ...(server.tlsUrl && server.caFile
        ? [
            runConsecutiveSyncs({
              label: 'password over TLS',
              redisUrl: `${server.tlsUrl}/10`,
              runs: TLS_RUNS,
              env: { NODE_EXTRA_CA_CERTS: server.caFile },
            }),
          ]
        : []),
    ]);
    for (const r of results) {
      expect({ label: r.label, runs: r.runs, failures: r.failures, failed: r.failed }).toEqual({
        label: r.label,
        runs: r.label === 'password over TLS' ? TLS_RUNS : RUNS,
        failures: 0,
        failed: [],
      });
    }
  }, 120_000);
});
