import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/contract/days.js';
import { measureLift } from '../../src/measure/report.js';
import { readJsonl, writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { readJson, readText } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { type Scenario, type ScenarioTruth, writeScenario } from './fixtures.js';

/** Every number in the report is finite or null: no NaN or Infinity sneaking into JSON as null. */
function expectOnlyFiniteNumbers(value: unknown, path = 'report'): void {
  if (typeof value === 'number') {
    expect(Number.isFinite(value), `${path} is ${value}`).toBe(true);
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) expectOnlyFiniteNumbers(v, `${path}[${i}]`);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) expectOnlyFiniteNumbers(v, `${path}.${k}`);
  }
}

const scenario: Scenario = {
  audienceId: 'cart_recovery',
  salt: 'cart-2026q1',
  fraction: 0.2,
  firstDay: '2026-01-01',
  entryDays: 20,
  stayDays: 3,
  people: 6000,
  windowDays: 14,
  holdoutRate: 0.1,
  lift: 0.05,
  seed: 42,
};
// The last entry day (01-20) matures when its window (01-21 .. 02-03) has ended.
const AS_OF = addDays('2026-01-20', 14);

describe.each(STORE_KINDS)('measureLift end to end ($kind store)', ({ create }) => {
  let t: TestStore;
  let truth: ScenarioTruth;

  beforeAll(async () => {
    t = await create();
    truth = await writeScenario(t.store, scenario);
    // A ledger with treatment people only: a destination exists, and the check stays quiet.
    const treated: string[] = [];
    for await (const m of readJsonl<{ customer_id: string; group: string }>(
      t.store,
      keys.members(scenario.audienceId, '2026-01-05'),
    )) {
      if (m.group === 'treatment') treated.push(m.customer_id);
    }
    await writeJsonl(
      t.store,
      keys.ledger('meta', scenario.audienceId),
      treated.map((customer_id) => ({ customer_id, keys: ['em'] })),
    );
  });
  afterAll(() => t.cleanup());

  it('recovers the injected lift within its interval and counts every group exactly', async () => {
    const { report, keys: written } = await measureLift({
      store: t.store,
      audienceId: scenario.audienceId,
      asOf: AS_OF,
      windowDays: scenario.windowDays,
      event: 'order_completed',
      holdoutFraction: scenario.fraction,
      salt: scenario.salt,
    });

    expect(report.period).toEqual({ from: '2026-01-01', to: AS_OF });
    expect(report.window_days).toBe(14);
    expect(report.groups.treatment).toMatchObject({
      people: truth.treatment.people,
      converters: truth.treatment.converters,
    });
    expect(report.groups.holdout).toMatchObject({
      people: truth.holdout.people,
      converters: truth.holdout.converters,
    });
    expect(report.groups.treatment.rate).toBeCloseTo(truth.treatment.converters / truth.treatment.people, 12);
    expect(report.groups.treatment.revenue).toBeCloseTo(truth.treatment.revenue, 6);
    expect(report.groups.holdout.revenue_per_person).toBeCloseTo(
      truth.holdout.revenue / truth.holdout.people,
      9,
    );

    // The injected lift (+5 points, +50% relative) lies inside the intervals, and zero does not.
    expect(report.absolute_lift.ci_low!).toBeLessThan(scenario.lift);
    expect(report.absolute_lift.ci_high!).toBeGreaterThan(scenario.lift);
    expect(report.absolute_lift.ci_low!).toBeGreaterThan(0);
    expect(report.relative_lift.ci_low!).toBeLessThan(0.5);
    expect(report.relative_lift.ci_high!).toBeGreaterThan(0.5);
    expect(report.p_value!).toBeLessThan(0.001);
    expect(report.significant).toBe(true);
    expect(report.incremental_conversions.estimate).toBeCloseTo(
      report.absolute_lift.estimate! * truth.treatment.people,
      9,
    );
    expect(report.mde!).toBeGreaterThan(0);
    expect(report.mde!).toBeLessThan(scenario.lift);

    // Integrity checks stay quiet on clean data.
    expect(report.srm).toMatchObject({ expected_share: 0.2, flagged: false });
    expect(report.srm.observed_share).toBeCloseTo(truth.holdout.people / scenario.people, 12);
    expect(report.contamination).toMatchObject({
      destinations_checked: ['meta'],
      contaminated_people: 0,
      flagged: false,
    });
    expect(report.salt).toMatchObject({ changed: false, assignment_mismatches: 0, note: null });
    expect(report.pending.people).toBe(0);
    expect(report.warnings).toEqual([]);
    expect(report.headline).toMatch(
      /^The treatment group converted at \d+\.\d% .*Paid amplification added \+\d\.\d pts/,
    );
    // Stays repeat over three snapshots; each person counts once.
    expect(report.groups.treatment.people + report.groups.holdout.people).toBe(scenario.people);
    expect(report.cohort.re_entries).toBe(0);
    expect(report.by_entry_day).toHaveLength(20);
    const last = report.by_entry_day.at(-1)!.cumulative_absolute_lift;
    expect(last).toEqual(report.absolute_lift);
    expectOnlyFiniteNumbers(report);

    // Both files are in the store, and the JSON is the report.
    expect(written).toEqual({
      json: `reports/lift/cart_recovery/dt=${AS_OF}/report.json`,
      html: `reports/lift/cart_recovery/dt=${AS_OF}/report.html`,
    });
    expect(await readJson(t.store, written!.json)).toEqual(JSON.parse(JSON.stringify(report)));
    const html = await readText(t.store, written!.html);
    expect(html).toContain('data-chart="rates"');
    expect(html).toContain('data-chart="cumulative"');
    expect(html).toContain('Paid amplification added');
  });
});
