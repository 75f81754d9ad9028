import { afterEach, describe, expect, it } from 'vitest';
import { createConnectorContext } from '../../connectors/core/context.js';
import { AudienceClosedError } from '../../connectors/core/errors.js';
import type { AnyConnector } from '../../connectors/core/types.js';
import { googleAdsConnector } from '../../connectors/google-ads/index.js';
import { openDestination } from '../../connectors/open.js';
import { tiktokConnector } from '../../connectors/tiktok/index.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { createLogger } from '../../src/log.js';
import { listKeys } from '../../src/storage/object-store.js';
import { storeOutbox } from '../../src/storage/outbox.js';
import { syncAudience } from '../../src/sync/execute.js';
import { readLedger, readState, writeState } from '../../src/sync/ledger.js';
import { OPEN_CHECK_MAX_AGE_MS } from '../../src/sync/platform-audience.js';
import { attempts } from '../../src/sync/runs.js';
import { type FakeGoogleAds, startFakeGoogleAds } from '../fakes/google-ads.js';
import { startFakeTiktok } from '../fakes/tiktok.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { personFor, treatment, writeDay } from './helpers.js';

/**
 * The sync engine with the asynchronous-job platform (Google Customer Match, consent rules) and
 * the code-in-body platform (TikTok): each fake ends holding exactly the eligible treatment members.
 */
const D1 = '2026-11-27';
const D2 = '2026-11-28';
const AUD = 'high_intent';
const log = createLogger({ level: 'silent' });

describe('sync engine against the fake Google Ads and TikTok', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function store(): Promise<TestStore> {
    const t = await createFsTestStore();
    cleanups.push(t.cleanup);
    return t;
  }

  function run(
    t: TestStore,
    connector: AnyConnector,
    ctx: ReturnType<typeof createConnectorContext>,
    day: string,
    extra = {},
  ) {
    return syncAudience({
      store: t.store,
      audienceId: AUD,
      day,
      destination: connector.id,
      connector,
      ctx,
      mode: { kind: 'audience' },
      runId: day,
      finalizeWaitMs: 10 * 60_000,
      ...extra,
    });
  }

  /** A Google Ads context pointed at `fake` (no waiting between status polls). */
  function googleContext(fake: FakeGoogleAds, extra: { batch_size?: number } = {}, fetchImpl?: typeof fetch) {
    return createConnectorContext(googleAdsConnector, {
      destination: 'google',
      config: {
        type: 'google_ads',
        customer_id: '1234567890',
        developer_token: fake.credentials.developer_token,
        client_id: fake.credentials.client_id,
        client_secret: fake.credentials.client_secret,
        refresh_token: fake.credentials.refresh_token,
        poll_interval_seconds: 5,
        ...extra,
      },
      env: { GOOGLE_ADS_API_URL: fake.url, GOOGLE_OAUTH_TOKEN_URL: fake.tokenUrl },
      log,
      sleep: async () => {},
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }

  it('Google: adds only people whose consent allows it, groups jobs by consent, removes people who withdraw it', async () => {
    const fake = await startFakeGoogleAds();
    cleanups.push(() => fake.close());
    const t = await store();
    const ctx = googleContext(fake);
    const granted = { ad_user_data: 'granted', ad_personalization: 'granted' } as const;
    const persons: PersonRecord[] = [
      personFor(1), // US, no consent recorded: may be added
      personFor(2, { country: 'DE', consent: granted }), // EEA with both granted
      personFor(3, { country: 'DE' }), // EEA without consent: never added
      personFor(4, { consent: { ad_user_data: 'denied' } }), // denied anywhere: never added
      personFor(5, { country: 'FR', consent: granted }),
    ];
    const all = treatment(persons);
    await writeDay(t.store, D1, AUD, persons, all);
    const first = await run(t, googleAdsConnector, ctx, D1);
    expect(first.status).toBe('completed');
    expect(first.members).toMatchObject({ desired: 3, consent_excluded: 2 });
    const list = () => [...fake.state.lists.values()][0]!;
    const emailOf = (p: PersonRecord) => googleAdsConnector.matchKeys(p)!.email!;
    const listEmails = () =>
      [...list().members]
        .filter((m) => m.startsWith('hashedEmail:'))
        .map((m) => m.slice(12))
        .sort();
    expect(listEmails()).toEqual([persons[0]!, persons[1]!, persons[4]!].map(emailOf).sort());
    // One job per consent state: unspecified (US) and granted (EEA people).
    const jobs = [...fake.state.jobs.values()];
    expect(jobs.map((j) => `${j.consent?.adUserData}/${j.consent?.adPersonalization}`).sort()).toEqual([
      'GRANTED/GRANTED',
      'UNSPECIFIED/UNSPECIFIED',
    ]);
    expect(jobs.every((j) => j.status === 'SUCCESS')).toBe(true);

    // Nothing changed: no new job.
    const again = await run(t, googleAdsConnector, ctx, D1, { force: true });
    expect(again.requests).toBe(0);
    expect(fake.state.jobs.size).toBe(2);

    // Person 2 withdraws consent: removed from the list (a separate remove job).
    const day2 = persons.map((p, i) =>
      i === 1
        ? { ...p, consent: { ad_user_data: 'denied' as const, ad_personalization: 'granted' as const } }
        : p,
    );
    await writeDay(t.store, D2, AUD, day2, all);
    const second = await run(t, googleAdsConnector, ctx, D2);
    expect(second.plan).toMatchObject({ add: 0, remove: 1 });
    expect(listEmails()).toEqual([persons[0]!, persons[4]!].map(emailOf).sort());
    expect([...fake.state.jobs.values()].filter((j) => j.kind === 'remove')).toHaveLength(1);
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: batches never mix consent states, so uploads are ceil(rows / batch) per state, also after a resume', async () => {
    const fake = await startFakeGoogleAds();
    cleanups.push(() => fake.close());
    const t = await store();
    const makeCtx = (fetchImpl?: typeof fetch) => googleContext(fake, { batch_size: 10 }, fetchImpl);
    const granted = { ad_user_data: 'granted', ad_personalization: 'granted' } as const;
    // 13 US people without consent recorded and 12 EEA people with both granted, ids interleaved.
    const persons = Array.from({ length: 25 }, (_, i) =>
      i % 2 === 1 && i < 24 ? personFor(i, { country: 'DE', consent: granted }) : personFor(i),
    );
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    const uploads = () => fake.requests.filter((r) => r.path.endsWith(':addOperations')).length;
    // The process dies at the third upload; the run is picked up again from its checkpoint.
    let seen = 0;
    const dying = makeCtx((async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url).endsWith(':addOperations') && ++seen === 3) throw new Error('killed');
      return fetch(url, init);
    }) as typeof fetch);
    await run(t, googleAdsConnector, dying, D1, { retry: { maxAttempts: 1 } }).catch(() => {});
    const recordKey = `sync/google_ads/${AUD}/runs/${D1}.json`;
    const killed = JSON.parse((await t.store.get(recordKey)).toString()) as { batches: unknown[] };
    expect(killed.batches).toHaveLength(2);
    await t.store.put(recordKey, JSON.stringify({ ...killed, status: 'running' }));
    const record = await run(t, googleAdsConnector, makeCtx(), D1);
    expect(record.status).toBe('completed');
    // ceil(13 / 10) + ceil(12 / 10): two batches per consent state, not three batches each split in two.
    expect(record.plan).toMatchObject({ add: 25, requests: 4, grouped: true, add_batches: 4 });
    expect(record.batches.map((b) => [b.group, b.rows])).toEqual([
      ['UNSPECIFIED/UNSPECIFIED', 10],
      ['GRANTED/GRANTED', 10],
      ['GRANTED/GRANTED', 2],
      ['UNSPECIFIED/UNSPECIFIED', 3],
    ]);
    expect(uploads()).toBe(2 + 2);
    const members = [...[...fake.state.lists.values()][0]!.members].filter((m) =>
      m.startsWith('hashedEmail:'),
    );
    expect(members).toHaveLength(25);
    // The ledger merges the groups' batches back into customer_id order.
    const ledger = await readLedger(t.store, 'google_ads', AUD);
    expect([...ledger.keys()]).toEqual(persons.map((p) => p.customer_id).sort());
    expect(fake.state.shapeErrors).toEqual([]);
  });

  /** A fake Google Ads, and a store holding D1's audience of three people, not synced yet. */
  async function googleDay1() {
    const fake = await startFakeGoogleAds();
    cleanups.push(() => fake.close());
    const t = await store();
    const persons = [1, 2, 3].map((i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    return { fake, t, ctx: googleContext(fake), persons };
  }

  /** `googleDay1`, synced. */
  async function syncedToGoogle() {
    const day1 = await googleDay1();
    expect((await run(day1.t, googleAdsConnector, day1.ctx, D1)).status).toBe('completed');
    return { ...day1, list: [...day1.fake.state.lists.values()][0]! };
  }

  it('Google: a list closed to new members stops the sync before anything is sent, and says how to reopen it', async () => {
    const { fake, t, ctx, persons, list } = await syncedToGoogle();
    expect(list.members.size).toBeGreaterThan(0);
    const held = new Set(list.members);

    // Closed on the platform: Google would run the jobs and add nobody (the fake does the same).
    fake.controls.setMembershipStatus(list.resourceName, 'CLOSED');
    const jobs = fake.state.jobs.size;
    const day2 = [...persons, personFor(4)];
    await writeDay(t.store, D2, AUD, day2, treatment(day2));
    const closed = await run(t, googleAdsConnector, ctx, D2).catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(AudienceClosedError);
    expect(closed).toMatchObject({
      kind: 'audience_closed',
      retry: false,
      platformAudienceId: list.resourceName,
    });
    expect((closed as Error).message).toContain(list.resourceName);
    expect((closed as Error).message).toMatch(
      /membership status CLOSED.*set the user list's membership status to OPEN/,
    );
    // Nothing was staged: no offline user data job was created for the closed list.
    expect(fake.state.jobs.size).toBe(jobs);

    // A store that does not know the list yet finds it by name, closed: same stop, no job, no state.
    const other = await store();
    await writeDay(other.store, D1, AUD, persons, treatment(persons));
    const found = await run(other, googleAdsConnector, ctx, D1).catch((e: unknown) => e);
    expect(found).toBeInstanceOf(AudienceClosedError);
    expect(fake.state.jobs.size).toBe(jobs);
    expect(fake.state.lists.size).toBe(1);
    expect(await readState(other.store, 'google_ads', AUD)).toBeUndefined();

    // Reopened: the next run sends the new person.
    fake.controls.setMembershipStatus(list.resourceName, 'OPEN');
    const reopened = await run(t, googleAdsConnector, ctx, D2);
    expect(reopened.status).toBe('completed');
    expect(reopened.plan).toMatchObject({ add: 1, remove: 0 });
    expect(list.members.size).toBeGreaterThan(held.size);
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: a real-time addition looks for a closed list when its last look is over an hour old; a removal never does', async () => {
    const { fake, t, ctx, persons, list } = await syncedToGoogle();
    const state = (await readState(t.store, 'google_ads', AUD))!;
    expect(Date.now() - Date.parse(state.open_checked_at!)).toBeLessThan(OPEN_CHECK_MAX_AGE_MS);

    // Looks at the list (GAQL over user_list), not the job status polls.
    const searches = () =>
      fake.requests.filter(
        (r) =>
          r.path.endsWith('googleAds:search') &&
          /FROM user_list/.test(String((r.body as { query?: unknown }).query)),
      ).length;
    const newcomer = personFor(4);
    const addNewcomer = (runId: string) =>
      run(t, googleAdsConnector, ctx, D2, {
        runId,
        only: {
          op: 'add',
          ids: new Set([newcomer.customer_id]),
          day: D2,
          people: [JSON.stringify(newcomer)],
        },
      });

    // Open and seen open a moment ago: the addition spends no request on looking.
    const before = searches();
    const fresh = await addNewcomer('rt-1');
    expect(fresh).toMatchObject({ status: 'completed', plan: { add: 1 } });
    expect(searches()).toBe(before);

    // Closed since, and last seen open two hours ago: the next addition looks, and stops unsent.
    fake.controls.setMembershipStatus(list.resourceName, 'CLOSED');
    const stale = new Date(Date.now() - 2 * OPEN_CHECK_MAX_AGE_MS).toISOString();
    await writeState(t.store, { ...state, open_checked_at: stale });
    const jobs = fake.state.jobs.size;
    const later = personFor(5);
    const closed = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'rt-2',
      only: { op: 'add', ids: new Set([later.customer_id]), day: D2, people: [JSON.stringify(later)] },
    }).catch((e: unknown) => e);
    expect(closed).toBeInstanceOf(AudienceClosedError);
    expect(searches()).toBe(before + 1);
    expect(fake.state.jobs.size).toBe(jobs);
    expect((await readState(t.store, 'google_ads', AUD))!.open_checked_at).toBe(stale);

    // An erasure removes from the closed list without looking: removals are what it still takes.
    const erased = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'erase-1',
      only: { op: 'remove', matches: (id: string) => id === persons[0]!.customer_id },
    });
    expect(erased).toMatchObject({ status: 'completed', plan: { add: 0, remove: 1 } });
    expect(searches()).toBe(before + 1);

    // Reopened: the stale look is made again, finds the list open, and is remembered.
    fake.controls.setMembershipStatus(list.resourceName, 'OPEN');
    const reopened = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'rt-3',
      only: { op: 'add', ids: new Set([later.customer_id]), day: D2, people: [JSON.stringify(later)] },
    });
    expect(reopened).toMatchObject({ status: 'completed', plan: { add: 1 } });
    expect(searches()).toBe(before + 2);
    const seen = (await readState(t.store, 'google_ads', AUD))!.open_checked_at!;
    expect(Date.parse(seen)).toBeGreaterThan(Date.parse(stale));
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: real-time additions a list closed within the hour took without effect are sent again once it is reopened', async () => {
    const { fake, t, ctx, persons, list } = await syncedToGoogle();
    const member = (p: PersonRecord) => `hashedEmail:${googleAdsConnector.matchKeys(p)!.email}`;
    // Closed right after the daily run looked: the next real-time addition trusts that look.
    fake.controls.setMembershipStatus(list.resourceName, 'CLOSED');
    const newcomer = personFor(4);
    const added = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'rt-1',
      only: { op: 'add', ids: new Set([newcomer.customer_id]), day: D2, people: [JSON.stringify(newcomer)] },
    });
    expect(added).toMatchObject({ status: 'completed', plan: { add: 1 } });
    expect(list.members.has(member(newcomer))).toBe(false); // Google took the job and added nobody
    expect([...(await readLedger(t.store, 'google_ads', AUD)).keys()]).toContain(newcomer.customer_id);
    expect((await readState(t.store, 'google_ads', AUD))!.added_since_look).toBe(true);

    // The next look (here the next day's run) finds the list closed: the run stops, and the ledger
    // is no longer trusted.
    const day2 = [...persons, newcomer];
    await writeDay(t.store, D2, AUD, day2, treatment(day2));
    await expect(run(t, googleAdsConnector, ctx, D2)).rejects.toBeInstanceOf(AudienceClosedError);
    expect((await readState(t.store, 'google_ads', AUD))!.needs_replace).toBe(true);

    // Reopened. A real-time addition first: it never replaces (the list would keep only the one
    // person it names), and it leaves the replace to the next run that is not targeted.
    fake.controls.setMembershipStatus(list.resourceName, 'OPEN');
    const later = personFor(5);
    const realtime = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'rt-2',
      only: { op: 'add', ids: new Set([later.customer_id]), day: D2, people: [JSON.stringify(later)] },
    });
    expect(realtime).toMatchObject({ status: 'completed', mode: 'diff', plan: { add: 1, remove: 0 } });
    for (const p of [...persons, later]) expect(list.members.has(member(p)), p.customer_id).toBe(true);
    expect((await readState(t.store, 'google_ads', AUD))!.needs_replace).toBe(true);

    // The next run replaces the list's members, the lost addition included.
    const replaced = await run(t, googleAdsConnector, ctx, D2, { runId: `${D2}-2` });
    expect(replaced).toMatchObject({ status: 'completed', mode: 'replace' });
    expect(list.members.has(member(newcomer))).toBe(true);
    for (const p of day2) expect(list.members.has(member(p)), p.customer_id).toBe(true);
    expect(list.members.has(member(later))).toBe(false); // not a member of the day's audience
    const state = (await readState(t.store, 'google_ads', AUD))!;
    expect(state.needs_replace).toBe(false);
    expect(state.added_since_look).toBeUndefined();
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: a finalize that keeps failing for now leaves the run to be finalized by the next attempt, never staged again', async () => {
    const fake = await startFakeGoogleAds();
    cleanups.push(() => fake.close());
    const t = await store();
    // Every attempt to run the job is throttled (429), more times than the in-process attempts.
    const runThrottled: typeof fetch = async (url, init) => {
      if (String(url).endsWith(':run')) fake.controls.throttle(1, 1);
      return fetch(url, init);
    };
    const persons = [1, 2, 3].map((i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    const failed = await run(t, googleAdsConnector, googleContext(fake, {}, runThrottled), D1).catch(
      (e: unknown) => e,
    );
    expect(failed).toMatchObject({ kind: 'rate_limited', retry: true });
    const { latest } = await attempts(t.store, 'google_ads', AUD, D1);
    expect(latest).toMatchObject({ status: 'finalizing', batches: [{ op: 'add', rows: 3 }] });
    const jobs = [...fake.state.jobs.values()];
    expect(jobs.map((j) => j.status)).toEqual(['PENDING']);

    // The next attempt runs and finalizes the same job: nothing is planned or staged again.
    const resumed = await run(t, googleAdsConnector, googleContext(fake), D1);
    expect(resumed).toMatchObject({ run_id: latest!.run_id, status: 'completed' });
    expect([...fake.state.jobs.values()].map((j) => j.status)).toEqual(['SUCCESS']);
    const list = [...fake.state.lists.values()][0]!;
    expect(list.members.size).toBe(2 * persons.length); // an email and a phone each
    expect([...(await readLedger(t.store, 'google_ads', AUD)).keys()]).toEqual(
      persons.map((p) => p.customer_id),
    );
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: staging that keeps failing for now leaves the run to be resumed into the same job, never planned again', async () => {
    const { fake, t, persons } = await googleDay1();
    // The first batch is staged; every later attempt to stage answers 429, beyond the in-process attempts.
    let staged = 0;
    const stagingThrottled: typeof fetch = async (url, init) => {
      if (String(url).endsWith(':addOperations') && ++staged > 1) fake.controls.throttle(1, 1);
      return fetch(url, init);
    };
    const failed = await run(
      t,
      googleAdsConnector,
      googleContext(fake, { batch_size: 1 }, stagingThrottled),
      D1,
    ).catch((e: unknown) => e);
    expect(failed).toMatchObject({ kind: 'rate_limited', retry: true });
    const { latest } = await attempts(t.store, 'google_ads', AUD, D1);
    expect(latest).toMatchObject({ status: 'running', batches: [{ op: 'add', rows: 1 }] });
    expect(fake.state.jobs.size).toBe(1);

    const resumed = await run(t, googleAdsConnector, googleContext(fake, { batch_size: 1 }), D1);
    expect(resumed).toMatchObject({ run_id: latest!.run_id, status: 'completed' });
    expect([...fake.state.jobs.values()].map((j) => j.status)).toEqual(['SUCCESS']);
    expect([...(await readLedger(t.store, 'google_ads', AUD)).keys()]).toEqual(
      persons.map((p) => p.customer_id),
    );
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: a run whose job still runs when the next day syncs is finalized first, and the next day sends only what changed', async () => {
    const { fake, t, ctx, persons } = await googleDay1();
    fake.controls.setJobPolls(1000); // the job runs on
    const waiting = await run(t, googleAdsConnector, ctx, D1, { finalizeWaitMs: 0 });
    expect(waiting.status).toBe('finalizing');
    expect((await readState(t.store, 'google_ads', AUD))!.finalizing_run_ids).toEqual([D1]);

    // The next day's sync while it still runs: that run is what comes back; nothing is planned or staged.
    const day2 = [...persons, personFor(4)];
    await writeDay(t.store, D2, AUD, day2, treatment(day2));
    const jobs = fake.state.jobs.size;
    const still = await run(t, googleAdsConnector, ctx, D2, { finalizeWaitMs: 0 });
    expect(still).toMatchObject({ run_id: D1, status: 'finalizing' });
    expect(fake.state.jobs.size).toBe(jobs);
    expect((await attempts(t.store, 'google_ads', AUD, D2)).latest).toBeUndefined();

    // The job is done: D1 is completed first, then D2 sends only the newcomer.
    for (const job of fake.state.jobs.values()) job.pollsLeft = 1;
    fake.controls.setJobPolls(1);
    const next = await run(t, googleAdsConnector, ctx, D2);
    expect(next).toMatchObject({ run_id: D2, status: 'completed', plan: { add: 1, remove: 0 } });
    expect((await attempts(t.store, 'google_ads', AUD, D1)).latest?.status).toBe('completed');
    expect((await readState(t.store, 'google_ads', AUD))!.finalizing_run_ids).toBeUndefined();
    expect([...fake.state.jobs.values()].map((j) => j.status)).toEqual(['SUCCESS', 'SUCCESS']);
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: a real-time run left finalizing beside an earlier run still finalizing: the next day finalizes both before it plans', async () => {
    const { fake, t, ctx, persons } = await googleDay1();
    fake.controls.setJobPolls(1000); // the daily job runs on
    expect((await run(t, googleAdsConnector, ctx, D1, { finalizeWaitMs: 0 })).status).toBe('finalizing');
    // As a state written before the list was: one run named by `finalizing_run_id`.
    const { finalizing_run_ids: _ids, ...older } = (await readState(t.store, 'google_ads', AUD))!;
    await writeState(t.store, { ...older, finalizing_run_id: D1 });

    // A real-time addition stages its own job, which Google refuses to run while D1's runs
    // (CONCURRENT_MODIFICATION): it is left finalizing too, and D1 must not be forgotten.
    const newcomer = personFor(4);
    const realtime = await run(t, googleAdsConnector, ctx, D2, {
      runId: 'rt-1',
      only: { op: 'add', ids: new Set([newcomer.customer_id]), day: D2, people: [JSON.stringify(newcomer)] },
    }).catch((e: unknown) => e);
    expect(realtime).toMatchObject({ retry: true });
    expect((await attempts(t.store, 'google_ads', AUD, 'rt-1')).latest?.status).toBe('finalizing');
    const state = (await readState(t.store, 'google_ads', AUD))!;
    expect(state.finalizing_run_ids).toEqual([D1, 'rt-1']);
    expect(state.finalizing_run_id).toBeUndefined();

    // D1's job is done: the next day finalizes D1, then runs and finalizes rt-1's job, and then has
    // nothing left to send (before, it knew only rt-1 and sent D1's three people again).
    for (const job of fake.state.jobs.values()) job.pollsLeft = 1;
    fake.controls.setJobPolls(1);
    const day2 = [...persons, newcomer];
    await writeDay(t.store, D2, AUD, day2, treatment(day2));
    const next = await run(t, googleAdsConnector, ctx, D2);
    expect(next).toMatchObject({ run_id: D2, status: 'completed', plan: { add: 0, remove: 0 } });
    for (const id of [D1, 'rt-1'])
      expect((await attempts(t.store, 'google_ads', AUD, id)).latest?.status, id).toBe('completed');
    expect((await readState(t.store, 'google_ads', AUD))!.finalizing_run_ids).toBeUndefined();
    expect([...fake.state.jobs.values()].map((j) => j.status)).toEqual(['SUCCESS', 'SUCCESS']);
    expect([...(await readLedger(t.store, 'google_ads', AUD)).keys()]).toEqual(
      day2.map((p) => p.customer_id),
    );
    expect([...fake.state.lists.values()][0]!.members.size).toBe(2 * day2.length); // an email and a phone each
    expect(fake.state.shapeErrors).toEqual([]);
  });

  it('Google: a name among the runs left finalizing whose run is not finalizing any more is dropped by the next run', async () => {
    const { t, ctx, persons } = await syncedToGoogle();
    const state = (await readState(t.store, 'google_ads', AUD))!;
    // A run completed since it was left finalizing, and one whose record is gone.
    expect((await attempts(t.store, 'google_ads', AUD, D1)).latest?.status).toBe('completed');
    await writeState(t.store, { ...state, finalizing_run_ids: [D1, '2026-11-01'] });
    await writeDay(t.store, D2, AUD, persons, treatment(persons));
    const next = await run(t, googleAdsConnector, ctx, D2);
    expect(next).toMatchObject({ run_id: D2, status: 'completed', plan: { add: 0, remove: 0 } });
    expect((await readState(t.store, 'google_ads', AUD))!.finalizing_run_ids).toBeUndefined();
  });

  it('Google: a run left finalizing whose job then fails is finalized as failed by the next day, which sends its people again', async () => {
    const { fake, t, ctx, persons } = await googleDay1();
    fake.controls.setJobPolls(1000);
    expect((await run(t, googleAdsConnector, ctx, D1, { finalizeWaitMs: 0 })).status).toBe('finalizing');
    for (const job of fake.state.jobs.values()) {
      job.failureReason = 'INSUFFICIENT_MATCHED_TRANSACTIONS';
      job.pollsLeft = 1;
    }
    fake.controls.setJobPolls(1);
    await writeDay(t.store, D2, AUD, persons, treatment(persons));
    const next = await run(t, googleAdsConnector, ctx, D2);
    expect((await attempts(t.store, 'google_ads', AUD, D1)).latest?.status).toBe('failed');
    // Nothing of D1 was confirmed: D2 adds everyone, and nobody is left named as finalizing.
    expect(next).toMatchObject({ run_id: D2, status: 'completed', plan: { add: persons.length } });
    expect((await readState(t.store, 'google_ads', AUD))!.finalizing_run_ids).toBeUndefined();
    expect([...fake.state.jobs.values()].map((j) => j.status)).toEqual(['FAILED', 'SUCCESS']);
  });

  it('TikTok: exact membership, zero requests when nothing changed, minimal requests after churn', async () => {
    const fake = await startFakeTiktok();
    cleanups.push(() => fake.close());
    const t = await store();
    const ctx = createConnectorContext(tiktokConnector, {
      destination: 'tiktok',
      config: {
        type: 'tiktok',
        advertiser_id: 7000000000,
        access_token: 'tiktok-test-token',
        batch_size: 10,
      },
      env: { TIKTOK_API_URL: fake.url },
      log,
      sleep: async () => {},
    });
    const persons = Array.from({ length: 25 }, (_, i) => personFor(i));
    const members = persons.map((p, i) => ({
      customer_id: p.customer_id,
      group: i % 5 === 4 ? ('holdout' as const) : ('treatment' as const),
    }));
    await writeDay(t.store, D1, AUD, persons, members);
    await run(t, tiktokConnector, ctx, D1);
    const audience = () => [...fake.state.audiences.values()][0]!;
    const emails = () =>
      [...audience().members]
        .filter((m) => m.startsWith('EMAIL_SHA256:'))
        .map((m) => m.slice(13))
        .sort();
    const reached = persons.filter((_, i) => i % 5 !== 4);
    expect(emails()).toEqual(reached.map((p) => tiktokConnector.matchKeys(p)!.email!).sort());

    const mapping = () => fake.requests.filter((r) => r.path.endsWith('/segment/mapping/')).length;
    const before = mapping();
    expect((await run(t, tiktokConnector, ctx, D1, { force: true })).requests).toBe(0);
    expect(mapping()).toBe(before);

    // 3 leave, 12 join: ceil(3/10) removes + ceil(12/10) adds = 3 requests.
    const day2 = [...reached.slice(3), ...Array.from({ length: 12 }, (_, i) => personFor(200 + i))];
    await writeDay(t.store, D2, AUD, [...day2, ...reached.slice(0, 3)], treatment(day2));
    const record = await run(t, tiktokConnector, ctx, D2);
    expect(record.plan).toMatchObject({ add: 12, remove: 3, requests: 3 });
    expect(mapping() - before).toBe(3);
    expect(emails()).toEqual(day2.map((p) => tiktokConnector.matchKeys(p)!.email!).sort());
  });

  it('a dry run of a Google destination applies Google consent rules and needs no credentials', async () => {
    const t = await store();
    const persons: PersonRecord[] = [
      personFor(1),
      personFor(2, { country: 'DE' }), // EEA without consent
      personFor(3, { consent: { ad_personalization: 'denied' } }),
    ];
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    const destination = openDestination({
      name: 'google',
      config: { type: 'google_ads', customer_id: '1234567890', developer_token: '${UNSET_TOKEN}' },
      dryRun: storeOutbox(t.store, 'dry-1'),
      log,
    });
    const record = await syncAudience({
      store: t.store,
      audienceId: AUD,
      day: D1,
      destination: 'google',
      connector: destination.connector,
      ctx: destination.context,
      capabilities: destination.capabilities,
      batchSize: destination.batchSize,
      platform: destination.type,
      mode: { kind: 'audience' },
      runId: 'dry-1',
      dryRun: true,
    });
    expect(record.members).toMatchObject({ desired: 1, consent_excluded: 2 });
    const bodies = await listKeys(t.store, 'outbox/google/high_intent/dry-1/');
    const sent = (await Promise.all(bodies.map((k) => t.store.get(k)))).map(String).join('');
    expect(sent).toContain(googleAdsConnector.matchKeys(persons[0]!)!.email!);
    expect(sent).not.toContain(googleAdsConnector.matchKeys(persons[1]!)!.email!);
    expect(sent).not.toContain(googleAdsConnector.matchKeys(persons[2]!)!.email!);
  });
});
