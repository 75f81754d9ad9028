import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createConnectorContext } from '../../connectors/core/context.js';
import type { ConnectorContext } from '../../connectors/core/types.js';
import type { MetaConfig } from '../../connectors/meta/config.js';
import { metaConnector } from '../../connectors/meta/index.js';
import type { PersonRecord } from '../../src/contract/records.js';
import { log } from '../../src/log.js';
import { readJsonlAll, writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { readJson, writeJson } from '../../src/storage/object-store.js';
import { syncAudience } from '../../src/sync/execute.js';
import { type LedgerEntry, readState, writeState } from '../../src/sync/ledger.js';
import type { SyncRunRecord } from '../../src/sync/run-record.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { personFor, treatment, writeDay } from './helpers.js';

/**
 * The streaming parts of the sync: the never-send check at sync time, ledgers written by earlier
 * versions (sorted by UTF-16 units, not code points), runs resumed from a plan stored in the
 * earlier single-object form, and members written in rank order that the sync must sort.
 */
const D1 = '2026-11-27';
const D2 = '2026-11-28';
const AUD = 'high_intent';

describe('streaming sync', () => {
  let fake: FakeMeta;
  let t: TestStore;
  let ctx: ConnectorContext<MetaConfig>;

  beforeEach(async () => {
    fake = await startFakeMeta();
    t = await createFsTestStore();
    ctx = makeCtx();
  });
  afterEach(async () => {
    expect(fake.state.shapeErrors).toEqual([]);
    await fake.close();
    await t.cleanup();
  });

  function makeCtx(fetchImpl?: typeof fetch): ConnectorContext<MetaConfig> {
    return createConnectorContext(metaConnector, {
      destination: 'meta',
      config: { type: 'meta', ad_account_id: 'act_1234', access_token: 'meta-test-token', batch_size: 10 },
      env: { META_GRAPH_URL: fake.url },
      log,
      sleep: async () => {},
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
  }

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

  function platformEmails(): string[] {
    const audience = [...fake.state.audiences.values()].find((a) => !a.deleted);
    return [...(audience?.members.values() ?? [])].map((m) => m.EMAIL!).sort();
  }
  const emailsOf = (persons: PersonRecord[]) => persons.map((p) => metaConnector.matchKeys(p)!.email!).sort();

  it('never sends a member who became unsubscribed or deleted after the build, and takes them off when held', async () => {
    const persons = Array.from({ length: 10 }, (_, i) => personFor(i));
    // The build ran before persons 2 and 4 changed: they are still members in today's snapshot.
    const snapshot = persons.map((p, i) =>
      i === 2 ? { ...p, unsubscribed: true } : i === 4 ? { ...p, deleted: true } : p,
    );
    await writeDay(t.store, D1, AUD, snapshot, treatment(persons));
    const first = await run(D1);
    expect(first.members).toMatchObject({ members: 10, never_send_excluded: 2, desired: 8 });
    const sent = persons.filter((_, i) => i !== 2 && i !== 4);
    expect(platformEmails()).toEqual(emailsOf(sent));

    // Day 2: person 7, on the platform, unsubscribes after the build; it still lists them.
    const day2 = snapshot.map((p, i) => (i === 7 ? { ...p, unsubscribed: true } : p));
    await writeDay(t.store, D2, AUD, day2, treatment(persons));
    const second = await run(D2);
    expect(second.plan).toMatchObject({ add: 0, remove: 1, left: 0 });
    expect(platformEmails()).toEqual(emailsOf(sent.filter((p) => p !== persons[7])));
  });

  it('sorts members the build wrote in rank order, whatever that order is', async () => {
    const persons = Array.from({ length: 40 }, (_, i) => personFor(i));
    // Rank order: a shuffle of customer ids (the build ranks by score).
    const ranked = [...persons].reverse();
    await writeDay(t.store, D1, AUD, persons, treatment(ranked));
    const record = await run(D1);
    expect(record.plan).toMatchObject({ add: 40, remove: 0, requests: 4 });
    expect(platformEmails()).toEqual(emailsOf(persons));
  });

  it('sorts a ledger written in UTF-16 order by an earlier version once, then plans exactly', async () => {
    // U+FB01 sorts after U+1F600's surrogates in UTF-16, before it in code points.
    const persons = ['a1', '\u{FB01}x', '\u{1F600}y', 'z9'].map((id, i) => personFor(i, { customer_id: id }));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    const ledgerKey = keys.ledger('meta', AUD);
    const entries = await readJsonlAll<LedgerEntry>(t.store, ledgerKey);
    expect(entries.map((e) => e.customer_id)).toEqual(['a1', 'z9', '\u{FB01}x', '\u{1F600}y']);
    // What an earlier version left: JavaScript's default sort, and no ledger_order in the state.
    const legacy = [...entries].sort((a, b) => (a.customer_id < b.customer_id ? -1 : 1));
    expect(legacy.map((e) => e.customer_id)).toEqual(['a1', 'z9', '\u{1F600}y', '\u{FB01}x']);
    await writeJsonl(t.store, ledgerKey, legacy);
    const state = (await readState(t.store, 'meta', AUD))!;
    delete state.ledger_order;
    await writeState(t.store, state);

    await writeDay(t.store, D2, AUD, persons, treatment(persons));
    const mark = fake.requests.length;
    const record = await run(D2);
    expect(record.status).toBe('completed');
    expect(record.plan).toMatchObject({ add: 0, remove: 0, unchanged: 4, requests: 0 });
    expect(fake.requests.length).toBe(mark);
    expect((await readJsonlAll<LedgerEntry>(t.store, ledgerKey)).map((e) => e.customer_id)).toEqual(
      entries.map((e) => e.customer_id),
    );
    expect((await readState(t.store, 'meta', AUD))?.ledger_order).toBe('code_point');
  });

  it('resumes a run whose plan an earlier version stored as one object', async () => {
    const persons = Array.from({ length: 30 }, (_, i) => personFor(i));
    await writeDay(t.store, D1, AUD, persons, treatment(persons));
    await run(D1);
    // Day 2: 5 leave, 12 join. The process dies after the first batch (the removals).
    const day2 = [...persons.slice(5), ...Array.from({ length: 12 }, (_, i) => personFor(100 + i))];
    await writeDay(t.store, D2, AUD, [...day2, ...persons.slice(0, 5)], treatment(day2));
    let uploads = 0;
    ctx = makeCtx((async (url: string | URL | Request, init?: RequestInit) => {
      if (String(url).includes('/users') && ++uploads === 2) throw new Error('killed');
      return fetch(url, init);
    }) as typeof fetch);
    await run(D2, { retry: { maxAttempts: 1 } }).catch(() => {});
    const recordKey = keys.syncRun('meta', AUD, D2);
    const record = await readJson<SyncRunRecord>(t.store, recordKey);
    expect(record.batches).toHaveLength(1);
    // Rewrite what the kill left into the earlier form: one plan object, `op` on every line.
    const objects = record.plan_objects!;
    const lines = [
      ...(await readJsonlAll<Record<string, unknown>>(t.store, objects.removes)).map((l) => ({
        op: 'remove',
        ...l,
      })),
      ...(await readJsonlAll<Record<string, unknown>>(t.store, objects.adds)).map((l) => ({
        op: 'add',
        ...l,
      })),
    ];
    await writeJsonl(t.store, keys.syncPlan('meta', AUD, D2, 'legacy'), lines);
    await t.store.delete([objects.removes, objects.adds]);
    const { plan_objects: _, ...legacy } = record;
    await writeJson(t.store, recordKey, {
      ...legacy,
      status: 'running',
      error: undefined,
      finished_at: undefined,
    });

    ctx = makeCtx();
    const mark = fake.requests.length;
    const resumed = await run(D2);
    expect(resumed.status).toBe('completed');
    expect(resumed.resumed).toHaveLength(1);
    // Only the two batches of additions were sent: the confirmed removals were not repeated.
    expect(fake.requests.slice(mark).filter((r) => r.path.endsWith('/users'))).toHaveLength(2);
    expect(platformEmails()).toEqual(emailsOf(day2));
  });
});
