import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { expectedGroup } from '../../src/measure/assignment.js';
import { readCohort } from '../../src/measure/cohort.js';
import { readCovariates } from '../../src/measure/covariates.js';
import { renderLiftHtml } from '../../src/measure/html.js';
import { LiftError, measureLift } from '../../src/measure/report.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createFsTestStore } from '../helpers/stores.js';
import { type EventLine, event, member, rng, writeEvents, writeSnapshot } from './fixtures.js';

/**
 * Covariates through the real pipeline: member snapshots and raw events in a store, the covariate
 * compiled and evaluated by the audience engine as of the day before each entry, and the report's
 * adjusted and always-valid numbers.
 */

const AUDIENCE = 'cart';
const SALT = 'cart-salt';
const FRACTION = 0.2;
const FIRST = '2026-03-02';
const ENTRY_DAYS = 5;
const WINDOW = 7;
const AS_OF = addDays(FIRST, ENTRY_DAYS - 1 + WINDOW);
const LIFT = 0.06;

const CHECKOUTS = { count: { event: 'checkout_started', within_days: 30 } };

interface World {
  store: ObjectStore;
  cleanup: () => Promise<void>;
  /** Checkouts before entry, per person: the covariate's true value. */
  prior: Map<string, number>;
}

/**
 * 1,500 people over 5 entry days. Each has x ∈ {0..3} checkouts in the 30 days before entering,
 * converts with p = 0.01 + 0.3x (+ 6 points in treatment), and has checkouts that must NOT count:
 * one on the entry day and one after it, and an event only after entry (`viewed_after`).
 */
async function world(): Promise<World> {
  const { store, cleanup } = await createFsTestStore();
  const random = rng(2201);
  const prior = new Map<string, number>();
  const events: EventLine[] = [];
  const snapshots = new Map<string, ReturnType<typeof member>[]>();
  let n = 0;
  const at = (day: string, hour: number) => `${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;
  for (let i = 0; i < 1500; i++) {
    const id = `p${String(i).padStart(5, '0')}`;
    const entered = addDays(FIRST, i % ENTRY_DAYS);
    const group = expectedGroup(SALT, FRACTION, id);
    const list = snapshots.get(entered) ?? [];
    list.push(member(id, group, entered, list.length + 1));
    snapshots.set(entered, list);
    const u = random();
    const x = u < 0.5 ? 0 : u < 0.75 ? 1 : u < 0.9 ? 2 : 3;
    prior.set(id, x);
    for (let k = 0; k < x; k++) {
      // The day before entry back to 29 days before it: all inside a 30-day window ending E − 1.
      const day = addDays(entered, -1 - Math.floor(random() * 29));
      events.push(event({ id: `c${n++}`, customer_id: id, name: 'checkout_started', ts: at(day, 10) }));
    }
    events.push(event({ id: `c${n++}`, customer_id: id, name: 'checkout_started', ts: at(entered, 9) }));
    events.push(
      event({ id: `c${n++}`, customer_id: id, name: 'checkout_started', ts: at(addDays(entered, 2), 9) }),
    );
    if (random() < 0.3) {
      const day = addDays(entered, -1 - Math.floor(random() * 20));
      events.push(event({ id: `c${n++}`, customer_id: id, name: 'noise_before', ts: at(day, 8) }));
    }
    if (i % 3 === 0) {
      events.push(
        event({ id: `c${n++}`, customer_id: id, name: 'viewed_after', ts: at(addDays(entered, 1), 9) }),
      );
    }
    const p = 0.01 + 0.3 * x + (group === 'treatment' ? LIFT : 0);
    if (random() < p) {
      const day = addDays(entered, 1 + Math.floor(random() * WINDOW));
      events.push(event({ id: `o${n++}`, customer_id: id, ts: at(day, 12) }, { value: 50 }));
    }
  }
  for (const [day, list] of snapshots) {
    await writeSnapshot(store, AUDIENCE, day, list, { holdout: { fraction: FRACTION, salt: SALT } });
  }
  await writeEvents(store, events);
  return { store, cleanup, prior };
}

const lift = (w: World, covariates: unknown[]) =>
  measureLift({
    store: w.store,
    audienceId: AUDIENCE,
    asOf: AS_OF,
    windowDays: WINDOW,
    event: 'order_completed',
    holdoutFraction: FRACTION,
    salt: SALT,
    write: false,
    covariates: covariates as never,
  });

describe('lift with covariates, end to end', () => {
  let w: World;
  beforeAll(async () => {
    w = await world();
  }, 60_000);
  afterAll(async () => {
    await w.cleanup();
  });

  it('evaluates each covariate as of the day before entry: nothing from the entry day or later counts', async () => {
    const cohort = await readCohort(w.store, {
      audienceId: AUDIENCE,
      from: FIRST,
      to: AS_OF,
      snapshotDays: Array.from({ length: ENTRY_DAYS }, (_, i) => addDays(FIRST, i)),
      salt: SALT,
      holdoutFraction: FRACTION,
    });
    const values = await readCovariates(
      w.store,
      [CHECKOUTS, { count: { event: 'viewed_after', within_days: 30 } }],
      cohort.members,
    );
    expect(values.size).toBe(1500);
    for (const [id, x] of w.prior) expect(values.get(id), id).toEqual([x, 0]);
  }, 60_000);

  it('reports the adjusted lift with its interval and variance reduction, and the always-valid band', async () => {
    const { report } = await lift(w, [CHECKOUTS]);
    const a = report.adjusted!;
    expect(a).not.toBeNull();
    expect(a.covariates).toEqual(['count(checkout_started, 30d)']);
    expect(a.reduces_variance).toBe(true);
    expect(a.variance_reduction).toBeGreaterThan(0.25);
    expect(report.headline_estimate).toBe('adjusted');
    expect(a.absolute_lift.ci_low).toBeLessThanOrEqual(LIFT);
    expect(a.absolute_lift.ci_high).toBeGreaterThanOrEqual(LIFT);
    const width = (e: { ci_low: number | null; ci_high: number | null }) => e.ci_high! - e.ci_low!;
    expect(width(a.absolute_lift)).toBeLessThan(0.9 * width(report.absolute_lift));
    expect(a.relative_lift.estimate).not.toBeNull();
    // The unadjusted estimate stays, side by side.
    expect(report.absolute_lift.estimate).not.toBeNull();
    expect(report.headline).toMatch(/adjusted for 1 pre-entry covariate \(count\(checkout_started, 30d\)\)/);
    expect(report.headline).toMatch(/removed \d+\.\d% of the variance/);

    const av = report.always_valid!;
    expect(av.based_on).toBe('adjusted');
    expect(av.absolute_lift.estimate).toBe(a.absolute_lift.estimate);
    expect(av.absolute_lift.ci_low).toBeLessThan(a.absolute_lift.ci_low);
    expect(av.absolute_lift.ci_high).toBeGreaterThan(a.absolute_lift.ci_high);
    expect(av.excludes_zero).toBe(av.absolute_lift.ci_low > 0 || av.absolute_lift.ci_high < 0);
    expect(report.headline.includes('No decision yet')).toBe(!av.excludes_zero);
    expect(report.by_entry_day).toHaveLength(ENTRY_DAYS);
    for (const d of report.by_entry_day) expect(d.cumulative_always_valid).not.toBeNull();
    expect(report.by_entry_day.at(-1)!.cumulative_always_valid).toEqual({
      ci_low: av.absolute_lift.ci_low,
      ci_high: av.absolute_lift.ci_high,
    });

    const html = renderLiftHtml(report);
    expect(html).toContain('adjusted lift');
    expect(html).toContain('always-valid interval');
  }, 120_000);

  it('without covariates reports no adjustment and an always-valid interval of the unadjusted lift', async () => {
    const { report } = await lift(w, []);
    expect(report.adjusted).toBeNull();
    expect(report.headline_estimate).toBe('unadjusted');
    expect(report.always_valid!.based_on).toBe('unadjusted');
    expect(report.always_valid!.absolute_lift.estimate).toBe(report.absolute_lift.estimate);
  }, 60_000);

  it('refuses a covariate with no variance (nobody has it before entry, or only after), naming it', async () => {
    for (const name of ['never_happens', 'viewed_after']) {
      const run = lift(w, [CHECKOUTS, { count: { event: name, within_days: 14 } }]);
      await expect(run).rejects.toThrow(LiftError);
      await expect(lift(w, [CHECKOUTS, { count: { event: name, within_days: 14 } }])).rejects.toThrow(
        `covariate measure.covariates[1] (count(${name}, 14d)) has (near) zero variance`,
      );
    }
  }, 120_000);

  it('reports an adjustment that does not reduce the variance as such, and reads the unadjusted lift', async () => {
    // noise_before is drawn independently of everything else: it explains nothing, and fitting
    // its coefficient costs precision.
    const { report } = await lift(w, [{ count: { event: 'noise_before', within_days: 30 } }]);
    const a = report.adjusted!;
    expect(a.variance_reduction).toBeLessThan(0);
    expect(a.reduces_variance).toBe(false);
    expect(report.headline_estimate).toBe('unadjusted');
    expect(report.headline).toMatch(
      /did not reduce the variance \(−\d+\.\d% change\), so this uses the unadjusted estimate/,
    );
    expect(report.always_valid!.based_on).toBe('unadjusted');
    expect(renderLiftHtml(report)).toContain('variance NOT reduced');
  }, 60_000);
});

describe('measure.covariates in the configuration', () => {
  const yaml = (measure: string, extra = '') => `
version: 1
destinations:
  cio: { type: customerio, site_id: s, api_key: k }
audiences:
  - id: abandoners
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started } }]
    top_fraction: 0.5
    holdout: { fraction: 0.1 }
    measure: ${measure}
${extra}`;

  it('accepts score-term covariates without weight and person attributes', () => {
    const { config } = parseAudienceSyncConfig(
      yaml(
        '{ event: Order Completed, window_days: 7, covariates: [ { count: { event: Checkout Started, within_days: 30 } }, { days_since: { event: order_completed } }, { sum: { event: order_completed, property: value, within_days: 90 } }, { attribute: attributes.lifetime_value } ] }',
      ),
    );
    expect(config.audiences[0]!.measure!.covariates).toEqual([
      { count: { event: 'checkout_started', within_days: 30 } },
      { days_since: { event: 'order_completed' } },
      { sum: { event: 'order_completed', property: 'value', within_days: 90 } },
      { attribute: 'attributes.lifetime_value' },
    ]);
  });

  it('names the YAML path of a bad covariate', () => {
    const bad = (covariates: string, message: RegExp, extra = '') =>
      expect(() =>
        parseAudienceSyncConfig(yaml(`{ event: x, window_days: 7, covariates: ${covariates} }`, extra)),
      ).toThrow(message);
    bad('[ { weight: 1, count: { event: a } } ]', /audiences\[0\]\.measure\.covariates\[0\].*weight/);
    bad('[ { count: { evnt: a } } ]', /audiences\[0\]\.measure\.covariates\[0\]\.count/);
    bad('[ { sum: { event: a } } ]', /audiences\[0\]\.measure\.covariates\[0\]\.sum\.property/);
    bad('[ { attribute: favourite_colour } ]', /audiences\[0\]\.measure\.covariates\[0\]\.attribute/);
    bad('[ { count: { event: a }, max: { event: b, property: v } } ]', /exactly one of/);
  });

  it('refuses an attribute the audience writes back: it is set after entry, by the treatment', () => {
    const text = `${yaml('{ event: x, window_days: 7, covariates: [ { attribute: attributes.in_abandoners } ] }')}    write_back: { destination: cio, attributes: { in_abandoners: member } }\n`;
    expect(() => parseAudienceSyncConfig(text)).toThrow(ConfigError);
    expect(() => parseAudienceSyncConfig(text)).toThrow(
      /audiences\[0\]\.measure\.covariates\[0\]\.attribute: covariate attributes\.in_abandoners is written back by this audience/,
    );
  });
});
