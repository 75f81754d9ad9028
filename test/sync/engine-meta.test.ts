import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnectorContext } from '../../connectors/core/context.js';
import type { ConnectorContext } from '../../connectors/core/types.js';
import type { MetaConfig } from '../../connectors/meta/config.js';
import { metaConnector } from '../../connectors/meta/index.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { log } from '../../src/log.js';
import { keys } from '../../src/storage/keys.js';
import { readJson } from '../../src/storage/object-store.js';
import { PlatformAudienceDeletedError, SyncBlockedError, syncAudience } from '../../src/sync/execute.js';
import { readLedger, readState } from '../../src/sync/ledger.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { personFor, treatment, writeDay } from './helpers.js';

const D1 = '2026-11-27';
const D2 = '2026-11-28';
const AUD = 'high_intent';

describe('sync engine against the fake Meta Graph API', () => {
  let fake: FakeMeta;
  let t: TestStore;
  let ctx: ConnectorContext<MetaConfig>;

  beforeEach(async () => {
    fake = await startFakeMeta();
    t = await createFsTestStore();
    ctx = makeCtx('meta-test-token');
  });

  function makeCtx(token: string, fetchImpl?: typeof fetch): ConnectorContext<MetaConfig> {
    return createConnectorContext(metaConnector, {
      destination: 'meta',
      config: { type: 'meta', ad_account_id: 'act_1234', access_token: token, batch_size: 10 },
      env: { META_GRAPH_URL: fake.url },
      log,
      sleep: async () => {},
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
    await t.cleanup();
  });

  function run(day: string, extra: Partial<Parameters<typeof syncAudience>[0]> = {}) {
    return syncAudience({
      store: t.store,
      audienceId: AUD,
      day,
      destination: 'meta',
      connector: metaConnector,
      ctx,
      mode: { kind: 'audience' },
      runId: day,
      ...extra,
    });
  }

  /** Email hashes on the platform, and the ones treatment members should have there. */
  function platformEmails(): string[] {
    const audience = [...fake.state.audiences.values()].find((a) => !a.deleted);
    return [...(audience?.members.values() ?? [])]
      .map((m) => m.EMAIL!)
      .filter(Boolean)
      .sort();
  }
  function expectedEmails(persons: PersonRecord[], ids: Set<string>): string[] {
    return persons
      .filter((p) => ids.has(p.customer_id))
      .map((p) => metaConnector.matchKeys(p)!.email!)
      .sort();
  }

  it('puts exactly the treatment members on the platform, never the holdout', async () => {
    const persons = Array.from({ length: 25 }, (_, i) => personFor(i));
    const members = persons.map((p, i) => ({
      customer_id: p.customer_id,
      group: i % 5 === 0 ? ('holdout' as const) : ('treatment' as const),
    }));
    await writeDay(t.store, D1, AUD, persons, members);
    const record = await run(D1);
    expect(record.status).toBe('completed');
    const treatment = new Set(members.filter((m) => m.group === 'treatment').map((m) => m.customer_id));
    expect(platformEmails()).toEqual(expectedEmails(persons, treatment));
    expect(record.members).toMatchObject({ members: 25, treatment: 20, holdout_excluded: 5, desired: 20 });
    // 20 adds in batches of 10: two uploads (plus creating and reading the audience).
    const uploads = fake.requests.filter((r) => r.path.endsWith('/users'));
    expect(uploads).toHaveLength(2);
    expect(record.plan).toMatchObject({ add: 20, remove: 0, requests: 2 });
    const ledger = await readLedger(t.store, 'meta', AUD);
    expect([...ledger.keys()].sort()).toEqual([...treatment].sort());
    // The ledger holds hashes as sent, never the raw email.
    const raw = (await t.store.get(keys.ledger('meta', AUD))).toString('latin1');
    expect(raw).not.toContain('example.com');
    expect((await readState(t.store, 'meta', AUD))?.platform_audience_id).toBe(record.platform_audience_id);
  });

  it('sends zero requests when nothing changed, and ceil(changes / batch) per operation after churn', async () => {
    const persons = Array.from({ length: 30 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    const before = fake.requests.length;
    const again = await run(D1, { force: true });
    expect(again.status).toBe('completed');
    expect(fake.requests.length).toBe(before);
    expect(again.requests).toBe(0);

    // Day 2: 12 leave, 5 change email, 23 join → removes 12 + 5 = 17 (2 requests), adds 23 + 5 = 28 (3 requests).
    const day2 = [
      ...persons.slice(12, 17).map((p) => ({ ...p, email: `new.${p.email}` })),
      ...persons.slice(17),
      ...Array.from({ length: 23 }, (_, i) => personFor(100 + i)),
    ];
    const gone = persons.slice(0, 12).map((p) => ({ ...p }));
    await writeDay(t.store, D2, AUD, [...day2, ...gone], treatment(day2));
    const mark = fake.requests.length;
    // 12 of 30 leave: more than the default 30% guard, so this plan needs confirming.
    const record = await run(D2, { confirm: true });
    const calls = fake.requests.slice(mark);
    expect(calls.filter((r) => r.method === 'DELETE' && r.path.endsWith('/users'))).toHaveLength(2);
    expect(calls.filter((r) => r.method === 'POST' && r.path.endsWith('/users'))).toHaveLength(3);
    expect(record.plan).toMatchObject({ add: 28, remove: 17, changed: 5, requests: 5 });
    expect(platformEmails()).toEqual(expectedEmails(day2, new Set(day2.map((p) => p.customer_id))));
  });

  it('removes a never-send person who was on the platform', async () => {
    const persons = Array.from({ length: 10 }, (_, i) => personFor(i));
    const all = treatment(persons);
    await writeDay(t.store, D1, AUD, persons, all);
    await run(D1);
    // Day 2: person 3 unsubscribed; the build keeps them out and the sync must take them off.
    const day2 = persons.map((p, i) => (i === 3 ? { ...p, unsubscribed: true } : p));
    await writeDay(
      t.store,
      D2,
      AUD,
      day2,
      all.filter((m) => m.customer_id !== persons[3]!.customer_id),
    );
    const record = await run(D2);
    expect(record.plan).toMatchObject({ remove: 1, add: 0 });
    expect(platformEmails()).not.toContain(metaConnector.matchKeys(persons[3]!)!.email);
    expect(platformEmails()).toHaveLength(9);
  });

  it('stops a plan that removes too much until confirmed', async () => {
    const persons = Array.from({ length: 10 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    await writeDay(t.store, D2, AUD, persons, treatment(persons.slice(0, 5)));
    const mark = fake.requests.length;
    const error = await run(D2).catch((e) => e);
    expect(error).toBeInstanceOf(SyncBlockedError);
    expect(error.message).toMatch(/removes 5 of 10 people \(50%\), more than the allowed 30%.*--confirm/);
    expect(fake.requests.length).toBe(mark);
    const confirmed = await run(D2, { confirm: true });
    expect(confirmed.status).toBe('completed');
    expect(confirmed.run_id).toBe(`${D2}-2`);
    expect(platformEmails()).toHaveLength(5);
  });

  it('retries throttling and records it, ending in the desired state', async () => {
    const persons = Array.from({ length: 20 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1, { confirm: true, runId: 'warmup', day: D1 }).catch(() => {});
    fake.controls.throttle(2);
    await writeDay(t.store, D2, AUD, [...persons, personFor(99)], treatment([...persons, personFor(99)]));
    const record = await run(D2);
    expect(record.status).toBe('completed');
    expect(record.retries).toBe(2);
    expect(platformEmails()).toHaveLength(21);
  });

  /**
   * A fetch that arms one HTTP 500 (code 2, transient) for every other request, the first
   * included: never two failures in a row, so every request gets through within three attempts.
   */
  function everyOtherFails(): typeof fetch {
    let n = 0;
    return (async (url: string | URL | Request, init?: RequestInit) => {
      if (n++ % 2 === 0) fake.controls.failServer(1);
      return fetch(url, init);
    }) as typeof fetch;
  }

  it('creates the audience while every other request fails: each request has its own three attempts', async () => {
    // Retrying ensureAudience as a whole started again from the lookup: lookup fails | lookup,
    // creation fails | lookup, creation fails — three attempts spent, the creation never through
    // (the Meta 5xx fault episode, FAULT_SEED=521081120, the same over five job attempts).
    const persons = Array.from({ length: 20 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    ctx = makeCtx('meta-test-token', everyOtherFails());
    const record = await run(D1, { retry: { maxAttempts: 3 } });
    expect(record.status).toBe('completed');
    expect(platformEmails()).toEqual(expectedEmails(persons, new Set(persons.map((p) => p.customer_id))));
    // Lookup, creation and the lookup after it each failed once and went through on their retry.
    const creations = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/customaudiences'));
    expect(creations).toHaveLength(2);
    expect([...fake.state.audiences.values()].filter((a) => !a.deleted)).toHaveLength(1);
    expect(record.audience_created).toBe(true);
    // 3 in the audience's lookup and creation, 2 in the two uploads.
    expect(record.retries).toBe(5);
  });

  it('looks a known audience up while every other request fails', async () => {
    // describe makes two requests (the audience, its latest session): retried as a whole, a failed
    // session lookup cost the audience lookup before it too, and three attempts were not enough.
    const persons = Array.from({ length: 5 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    const day2 = [...persons, personFor(50)];
    await writeDay(t.store, D2, AUD, day2, treatment(day2));
    ctx = makeCtx('meta-test-token', everyOtherFails());
    const record = await run(D2, { retry: { maxAttempts: 3 } });
    expect(record.status).toBe('completed');
    expect(record.plan).toMatchObject({ add: 1, remove: 0 });
    expect(platformEmails()).toHaveLength(6);
  });

  it('records rejected rows with their reason, keeps them out of the ledger, and retries them next run', async () => {
    const persons = Array.from({ length: 6 }, (_, i) => personFor(i));
    const bad = metaConnector.matchKeys(persons[2]!)!.email!;
    fake.controls.rejectValues([bad], 'invalid hash');
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    const record = await run(D1);
    expect(record.status).toBe('completed');
    expect(record.rejected_sample.map((r) => r.customer_id)).toEqual([persons[2]!.customer_id]);
    const ledger = await readLedger(t.store, 'meta', AUD);
    expect(ledger.has(persons[2]!.customer_id)).toBe(false);
    expect(ledger.size).toBe(5);
    fake.controls.rejectValues([]);
    const retry = await run(D1, { force: true });
    expect(retry.plan).toMatchObject({ add: 1, remove: 0 });
    expect((await readLedger(t.store, 'meta', AUD)).size).toBe(6);
  });

  it('fails clearly on an expired token and resends nothing confirmed on the next attempt', async () => {
    const persons = Array.from({ length: 30 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    // Let the audience be created and one batch through, then expire the token.
    let uploads = 0;
    ctx = makeCtx('meta-test-token', (async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url).includes('/users') && ++uploads === 2) fake.controls.expireToken();
      return fetch(url, init);
    }) as typeof fetch);
    const error = await run(D1).catch((e) => e);
    expect(error.kind).toBe('auth');
    const failed = await readJson<{
      status: string;
      error: { kind: string; message: string };
      batches: unknown[];
    }>(t.store, keys.syncRun('meta', AUD, D1));
    expect(failed.status).toBe('failed');
    expect(failed.error.kind).toBe('auth');
    expect(failed.batches).toHaveLength(1);
    expect((await readLedger(t.store, 'meta', AUD)).size).toBe(10);

    fake.state.token = 'meta-test-token-2';
    ctx = makeCtx('meta-test-token-2');
    const next = await run(D1);
    expect(next.run_id).toBe(`${D1}-2`);
    expect(next.plan).toMatchObject({ add: 20, remove: 0 });
    expect(platformEmails()).toHaveLength(30);
  });

  it('reports a platform audience deleted on the platform side, and re-creates it only when configured to', async () => {
    const persons = Array.from({ length: 5 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    const first = await run(D1);
    fake.controls.deleteAudience(first.platform_audience_id!);
    await writeDay(t.store, D2, AUD, [...persons, personFor(50)], treatment([...persons, personFor(50)]));
    const error = await run(D2).catch((e) => e);
    expect(error).toBeInstanceOf(PlatformAudienceDeletedError);
    expect(error.message).toMatch(
      /was deleted on the platform side; set sync_settings\.recreate_deleted_audiences/,
    );
    const again = await run(D2, { recreateDeleted: true });
    expect(again.status).toBe('completed');
    expect(again.platform_audience_id).not.toBe(first.platform_audience_id);
    // Everyone is sent to the new audience, not only the newcomer.
    expect(again.plan.add).toBe(6);
    expect(platformEmails()).toHaveLength(6);
  });

  it('replaces the platform contents with a usersreplace session', async () => {
    const persons = Array.from({ length: 15 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    const keep = persons.slice(0, 12);
    await writeDay(t.store, D2, AUD, persons, treatment(keep));
    const record = await run(D2, { replace: true });
    expect(record.mode).toBe('replace');
    expect(fake.requests.filter((r) => r.path.endsWith('/usersreplace'))).toHaveLength(2);
    expect(platformEmails()).toEqual(expectedEmails(keep, new Set(keep.map((p) => p.customer_id))));
    expect((await readLedger(t.store, 'meta', AUD)).size).toBe(12);
  });
});
