import { describe, expect, it } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { compactClosedDays } from '../../src/compaction/compact.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { generateDataset } from '../../src/generate/dataset.js';
import { measureLift } from '../../src/measure/report.js';
import { liftSettings } from '../../src/measure/stage.js';
import { createFsTestStore } from '../helpers/stores.js';

const EXAMPLE = new URL('../../audience-sync.example.yaml', import.meta.url).pathname;

/**
 * The whole measurement chain on the project's own synthetic data: the generator injects a known
 * conversion lift for reached abandoners, daily builds assign treatment and holdout, and the lift
 * report must recover the injected lift within its interval.
 */
describe('lift on generated data with an injected lift', () => {
  it('recovers the injected relative lift within the reported interval', async () => {
    const { store, cleanup } = await createFsTestStore();
    try {
      const end = '2026-11-20';
      const lift = 1.0;
      await generateDataset({ store, people: 20000, days: 40, seed: 11, lift, endDay: end });
      // Closed days are Parquet, as in production: each daily build reads them, not 40 days of JSON Lines.
      await compactClosedDays({ store, now: new Date(`${addDays(end, 1)}T00:00:00.000Z`), graceHours: 48 });
      const { config } = await loadAudienceSyncConfig(EXAMPLE, {});
      const audience = config.audiences.find((a) => a.id === 'high_intent_abandoners')!;
      for (let d = addDays(end, -24); d <= end; d = addDays(d, 1)) {
        await buildAudiences({ store, config, day: d, audienceIds: ['high_intent_abandoners'] });
      }
      const settings = liftSettings(audience)!;
      const { report } = await measureLift({
        store,
        audienceId: audience.id,
        asOf: end,
        write: false,
        ...settings,
      });
      const t = report.groups.treatment;
      const h = report.groups.holdout;
      expect(t.people).toBeGreaterThan(200);
      expect(h.people).toBeGreaterThan(20);
      expect(t.rate ?? 0).toBeGreaterThan(h.rate ?? 1);
      const rel = report.relative_lift;
      expect(rel.estimate).not.toBeNull();
      expect(rel.ci_low!).toBeLessThanOrEqual(lift);
      expect(rel.ci_high!).toBeGreaterThanOrEqual(lift);
      // ... and the lift is detected: the interval excludes zero.
      expect(rel.ci_low!).toBeGreaterThan(0);
      expect(report.absolute_lift.ci_low ?? 0).toBeGreaterThan(0);
      // The holdout share is what was configured (no sample-ratio mismatch).
      expect(report.srm.flagged).toBe(false);

      // The same cohort adjusted for pre-entry checkouts and orders (evaluated by the audience
      // engine as of the day before each entry) and read with the always-valid interval.
      const { report: adjusted } = await measureLift({
        store,
        audienceId: audience.id,
        asOf: end,
        write: false,
        ...settings,
        covariates: [
          { count: { event: 'checkout_started', within_days: 30 } },
          { count: { event: 'order_completed', within_days: 30 } },
        ],
      });
      const a = adjusted.adjusted!;
      expect(a.covariates).toEqual(['count(checkout_started, 30d)', 'count(order_completed, 30d)']);
      expect(a.coefficients).toHaveLength(2);
      // The unadjusted numbers are unchanged by asking for the adjustment.
      expect(adjusted.absolute_lift).toEqual(report.absolute_lift);
      expect(a.relative_lift.ci_low!).toBeLessThanOrEqual(lift);
      expect(a.relative_lift.ci_high!).toBeGreaterThanOrEqual(lift);
      expect(Number.isFinite(a.variance_reduction)).toBe(true);
      expect(adjusted.headline_estimate).toBe(a.reduces_variance ? 'adjusted' : 'unadjusted');
      const av = adjusted.always_valid!;
      // Wider than the fixed-horizon interval of the estimate it is built on, around that estimate.
      const base = av.based_on === 'adjusted' ? a.absolute_lift : report.absolute_lift;
      expect(av.absolute_lift.estimate).toBe(base.estimate);
      expect(av.absolute_lift.ci_low).toBeLessThan(base.ci_low!);
      expect(av.absolute_lift.ci_high).toBeGreaterThan(base.ci_high!);
      expect(adjusted.by_entry_day.every((d) => d.cumulative_always_valid !== null)).toBe(true);
    } finally {
      await cleanup();
    }
  }, 180_000);
});
