import { describe, expect, it } from 'vitest';
import { compareIds } from '../../src/people/snapshot.js';
import type { DesiredRow } from '../../src/sync/desired.js';
import { checkGuards } from '../../src/sync/guards.js';
import { digestOf, type Ledger } from '../../src/sync/ledger.js';
import { computePlan as computePlanStream, type DiffItem, PlanPreview } from '../../src/sync/plan.js';

const caps = { addsAndRemovesShareRequest: false };

function desiredOf(entries: Record<string, Record<string, string>>): Map<string, DesiredRow> {
  return new Map(
    Object.entries(entries).map(([id, keys]) => [id, { row: { key: id, keys }, digest: digestOf(keys) }]),
  );
}

function ledgerOf(entries: Record<string, Record<string, string>>): Ledger {
  return new Map(
    Object.entries(entries).map(([id, keys]) => [
      id,
      { customer_id: id, digest: digestOf(keys), keys, confirmed_at: '2026-11-27T00:00:00.000Z' },
    ]),
  );
}

/**
 * The streaming diff over in-memory sides: one item per person of either side in customer_id
 * order, as desired.ts produces them, with every row kept.
 */
async function computePlan(
  desired: Map<string, DesiredRow>,
  ledger: Ledger,
  capabilities: { addsAndRemovesShareRequest: boolean },
  batchSize: number,
  mode: 'diff' | 'replace' = 'diff',
  compliance: ReadonlySet<string> = new Set(),
) {
  const ids = [...new Set([...desired.keys(), ...ledger.keys()])].sort(compareIds);
  const items: DiffItem[] = ids.map((id) => ({
    id,
    ...(desired.has(id) ? { desired: desired.get(id)! } : {}),
    ...(ledger.has(id) ? { held: ledger.get(id)! } : {}),
    mustLeave: compliance.has(id),
  }));
  const preview = new PlanPreview(Number.POSITIVE_INFINITY);
  const outline = await computePlanStream(items, capabilities, batchSize, mode, preview);
  return { ...outline, adds: preview.adds, removes: preview.removes };
}

describe('computePlan', () => {
  it('adds newcomers, removes leavers under their old keys, and swaps changed keys', async () => {
    const desired = desiredOf({ a: { email: 'ha' }, b: { email: 'hb2' }, c: { email: 'hc' } });
    const ledger = ledgerOf({ b: { email: 'hb1' }, c: { email: 'hc' }, d: { email: 'hd' } });
    const plan = await computePlan(desired, ledger, caps, 10_000);
    expect(plan.adds.map((r) => [r.row.key, r.reason, r.row.keys.email])).toEqual([
      ['a', 'new', 'ha'],
      ['b', 'changed', 'hb2'],
    ]);
    expect(plan.removes.map((r) => [r.row.key, r.reason, r.row.keys.email])).toEqual([
      ['b', 'changed', 'hb1'],
      ['d', 'left', 'hd'],
    ]);
    expect(plan.counts).toEqual({
      desired: 3,
      ledger: 3,
      add: 2,
      remove: 2,
      changed: 1,
      unchanged: 1,
      after: 3,
      left: 1,
    });
    expect(plan.requests).toBe(2);
  });

  it('needs zero requests when nothing changed', async () => {
    const keys = { a: { email: 'ha' }, b: { phone: 'pb' } };
    const plan = await computePlan(desiredOf(keys), ledgerOf(keys), caps, 10_000);
    expect(plan.adds).toEqual([]);
    expect(plan.removes).toEqual([]);
    expect(plan.requests).toBe(0);
  });

  it('counts the theoretical minimum of requests: ceil(changes / batch maximum) per request kind', async () => {
    const desired = desiredOf(
      Object.fromEntries(Array.from({ length: 25_001 }, (_, i) => [`p${i}`, { email: `h${i}` }])),
    );
    const ledger = ledgerOf(
      Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`gone${i}`, { email: `g${i}` }])),
    );
    expect((await computePlan(desired, ledger, caps, 10_000)).requests).toBe(3 + 1);
    expect((await computePlan(desired, ledger, { addsAndRemovesShareRequest: true }, 10_000)).requests).toBe(
      3,
    );
  });

  it('digests keys independently of their order', async () => {
    expect(digestOf({ email: 'x', phone: 'y' })).toBe(digestOf({ phone: 'y', email: 'x' }));
    expect(digestOf({ email: 'x' })).not.toBe(digestOf({ email: 'x', phone: 'y' }));
  });

  it('replace sends the whole desired set', async () => {
    const plan = await computePlan(
      desiredOf({ a: { email: 'ha' } }),
      ledgerOf({ a: { email: 'ha' }, z: { email: 'hz' } }),
      caps,
      10,
      'replace',
    );
    expect(plan.adds.map((r) => r.row.key)).toEqual(['a']);
    expect(plan.removes).toEqual([]);
  });
});

describe('guards', () => {
  const ledger = ledgerOf(
    Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`p${i}`, { email: `h${i}` }])),
  );

  it('stop a plan removing more than the allowed share', async () => {
    const keep = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`p${i}`, { email: `h${i}` }]));
    const plan = await computePlan(desiredOf(keep), ledger, caps, 100);
    expect(checkGuards(plan, null, { maxRemoveShare: 0.3 })).toEqual([
      { code: 'remove_share', message: 'the plan removes 4 of 10 people (40%), more than the allowed 30%' },
    ]);
    expect(checkGuards(plan, null, { maxRemoveShare: 0.5 })).toEqual([]);
  });

  it('do not count changed keys as people leaving', async () => {
    const changed = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`p${i}`, { email: `new${i}` }]));
    const plan = await computePlan(desiredOf(changed), ledger, caps, 100);
    expect(plan.counts.remove).toBe(10);
    expect(checkGuards(plan, null, { maxRemoveShare: 0.3 })).toEqual([]);
  });

  it('never hold back removals for privacy reasons (deleted, unsubscribed, consent withdrawn)', async () => {
    const keep = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`p${i}`, { email: `h${i}` }]));
    const compliance = new Set(['p5', 'p6', 'p7', 'p8', 'p9']);
    const plan = await computePlan(desiredOf(keep), ledger, caps, 100, 'diff', compliance);
    expect(plan.removes.map((r) => r.reason)).toEqual(Array(5).fill('compliance'));
    expect(checkGuards(plan, null, { maxRemoveShare: 0.3 })).toEqual([]);
  });

  it('stop a plan that takes the audience below the platform minimum', async () => {
    const keep = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`p${i}`, { email: `h${i}` }]));
    const plan = await computePlan(desiredOf(keep), ledger, caps, 100);
    expect(checkGuards(plan, 9, { maxRemoveShare: 0.3 }).map((g) => g.code)).toEqual(['below_minimum']);
    expect(checkGuards(plan, 5, { maxRemoveShare: 0.3 })).toEqual([]);
  });
});
