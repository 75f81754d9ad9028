import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { isHoldout } from '../../src/audiences/holdout.js';
import { readMembers } from '../../src/audiences/members.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { cleanPhone } from '../../src/contract/identifiers.js';
import { eventRecord, messageRecord, personRecord } from '../../src/contract/records.js';
import {
  EXAMPLE_HOLDOUT,
  GENERATED_KEY,
  type GenerateResult,
  generateDataset,
} from '../../src/generate/dataset.js';
import { listKeys, type ObjectStore, readJson } from '../../src/storage/object-store.js';
import { createFsTestStore, createS3TestStore, type TestStore } from '../helpers/stores.js';

const END = '2026-11-27';

async function allLines(store: ObjectStore, prefix: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const key of await listKeys(store, prefix)) {
    out.set(
      key,
      gunzipSync(await store.get(key))
        .toString('utf8')
        .split('\n')
        .filter(Boolean),
    );
  }
  return out;
}

describe('generateDataset', () => {
  const stores: TestStore[] = [];
  let a: ObjectStore;
  let result: GenerateResult;
  beforeEach(async () => {
    const t = await createFsTestStore();
    stores.push(t);
    a = t.store;
    result = await generateDataset({ store: a, people: 1500, days: 8, seed: 11, lift: 0.5, endDay: END });
  });
  afterEach(async () => {
    for (const t of stores.splice(0)) await t.cleanup();
  });

  it('is deterministic for a seed, on any store', async () => {
    const s3 = await createS3TestStore();
    stores.push(s3);
    const again = await generateDataset({
      store: s3.store,
      people: 1500,
      days: 8,
      seed: 11,
      lift: 0.5,
      endDay: END,
    });
    expect(again).toEqual(result);
    const left = await allLines(a, 'raw/');
    const right = await allLines(s3.store, 'raw/');
    expect([...right.keys()]).toEqual([...left.keys()]);
    for (const [key, lines] of left) expect(right.get(key)).toEqual(lines);
    const other = await createFsTestStore();
    stores.push(other);
    const different = await generateDataset({
      store: other.store,
      people: 1500,
      days: 8,
      seed: 12,
      endDay: END,
    });
    expect(different.records).not.toEqual(result.records);
  });

  it('writes canonical records in the raw layout, with plausible fake identities and a few broken lines', async () => {
    const schemas = { events: eventRecord, messages: messageRecord, people: personRecord } as const;
    const counts = { events: 0, messages: 0, people: 0 };
    let malformed = 0;
    const names = new Set<string>();
    const rawNames = new Set<string>();
    const metrics = new Set<string>();
    const ids = new Set<string>();
    let duplicates = 0;
    for (const dataset of ['events', 'messages', 'people'] as const) {
      for (const [key, lines] of await allLines(a, `raw/${dataset}/`)) {
        expect(key).toMatch(
          /^raw\/(events|messages|people)\/dt=\d{4}-\d{2}-\d{2}\/part-\d+-\d+-\d+-\d+\.jsonl\.gz$/,
        );
        for (const line of lines) {
          let value: unknown;
          try {
            value = JSON.parse(line);
          } catch {
            malformed += 1;
            continue;
          }
          const parsed = schemas[dataset].safeParse(value);
          if (!parsed.success) {
            malformed += 1;
            continue;
          }
          counts[dataset] += 1;
          const r = parsed.data as Record<string, unknown>;
          expect(key).toContain(`dt=${(r.ts as string).slice(0, 10)}/`);
          if (typeof r.email === 'string') expect(r.email).toMatch(/@example\.(com|org|net)$/);
          if (typeof r.phone === 'string') {
            expect(r.phone).toMatch(/^\+(1\d{3}55501\d\d|447700900\d{3}|61491570\d{3})$/);
            expect(cleanPhone(r.phone)).toBe(r.phone);
          }
          if (dataset === 'events') {
            names.add(r.name as string);
            rawNames.add(r.raw_name as string);
          }
          if (dataset === 'messages') metrics.add(`${r.channel}:${r.metric}`);
          if (dataset !== 'people') {
            const id = `${dataset}:${r.id}`;
            if (ids.has(id)) duplicates += 1;
            ids.add(id);
          }
        }
      }
    }
    // Re-sent copies are extra lines on top of the records generated.
    expect(counts.people).toBe(result.records.people);
    expect(counts.events + counts.messages).toBe(
      result.records.events + result.records.messages + result.duplicates,
    );
    expect(malformed).toBe(result.malformed);
    expect(duplicates).toBe(result.duplicates);
    expect(result.duplicates).toBeGreaterThan(0);
    expect(result.late).toBeGreaterThan(0);
    expect(names).toEqual(
      new Set(['product_viewed', 'product_added', 'checkout_started', 'order_completed']),
    );
    expect(rawNames).toContain('Checkout Started');
    expect(rawNames).toContain('checkout_started');
    for (const m of [
      'email:sent',
      'email:delivered',
      'email:opened',
      'email:clicked',
      'sms:delivered',
      'push:sent',
    ]) {
      expect(metrics).toContain(m);
    }
    expect(await readJson(a, GENERATED_KEY)).toEqual(result);
  });

  it('gives reached abandoners the configured lift over the held-out ones (known truth)', async () => {
    const { abandonments, scheduled_conversions: conv } = result.truth;
    expect(abandonments.treatment + abandonments.holdout).toBeGreaterThan(50);
    // The split follows the example audience's holdout formula and salt.
    expect(result.holdout).toEqual(EXAMPLE_HOLDOUT);
    expect(isHoldout(EXAMPLE_HOLDOUT.salt, 'cus_0000001', EXAMPLE_HOLDOUT.fraction)).toBe(false);
    const share = abandonments.holdout / (abandonments.treatment + abandonments.holdout);
    expect(share).toBeGreaterThan(0.03);
    expect(share).toBeLessThan(0.2);
    expect(conv.treatment / abandonments.treatment).toBeGreaterThan(conv.holdout / abandonments.holdout);
  });

  it('feeds the example audiences end to end', async () => {
    const { config } = await loadAudienceSyncConfig('audience-sync.example.yaml', {});
    const built = await buildAudiences({ store: a, config, day: END });
    const byId = Object.fromEntries(built.audiences.map((m) => [m.audience, m]));
    for (const id of [
      'recent_buyers',
      'high_intent_abandoners',
      'winback_email_clickers',
      'recent_sms_recipients',
      'lapsed_customers',
      'customers',
    ]) {
      expect(byId[id]!.counts.selected, id).toBeGreaterThan(0);
    }
    // customers carries the traits it writes back: a tier for everyone, a predicted date for
    // people with two orders or more.
    const tiers = new Set<unknown>();
    let predicted = 0;
    for await (const m of readMembers(a, 'customers', END)) {
      tiers.add(m.traits?.winback_offer_tier);
      if (typeof m.traits?.predicted_next_order_date === 'string') predicted++;
    }
    expect(
      [...tiers].every((t) => ['none', 'reminder', 'ten_percent', 'twenty_percent'].includes(t as string)),
    ).toBe(true);
    expect(predicted).toBeGreaterThan(0);
    // The broken message line is read too: never_send looks at messages for every audience.
    expect(byId.recent_buyers!.malformed_lines).toBe(2);
    // Seed 11: 5 of the 69 matched abandoners bought recently and are excluded, none by never_send.
    expect(byId.high_intent_abandoners!.counts.excluded).toEqual({
      'audience:recent_buyers': 5,
      never_send: 0,
    });
    expect(byId.high_intent_abandoners!.counts.removed).toBe(5);
    const groups = new Set<string>();
    for await (const m of readMembers(a, 'recent_buyers', END)) groups.add(m.group);
    expect(groups).toEqual(new Set(['treatment']));
    expect(built.people.malformed_lines).toBe(1);
  });
});
