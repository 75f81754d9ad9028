import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLiftReport } from '../../src/measure/report.js';
import { runMeasureStage } from '../../src/measure/stage.js';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { writeScenario } from './fixtures.js';

describe('measure stage', () => {
  let t: TestStore;
  beforeAll(async () => {
    t = await createFsTestStore();
    await writeScenario(t.store, {
      audienceId: 'abandoners',
      salt: 'abandoners',
      fraction: 0.1,
      firstDay: '2026-04-01',
      entryDays: 30,
      stayDays: 1,
      people: 1500,
      windowDays: 7,
      holdoutRate: 0.1,
      lift: 0.03,
      seed: 11,
    });
  });
  afterAll(() => t.cleanup());

  it('writes a report for each audience with a holdout and skips the others', async () => {
    const results = await runMeasureStage({
      store: t.store,
      asOf: '2026-04-30',
      lookbackDays: 10,
      audiences: [
        // No salt configured: the default salt is the audience id, which the scenario used.
        { id: 'abandoners', holdout: { fraction: 0.1 }, measure: { window_days: 7 } },
        { id: 'recent_buyers' },
        { id: 'not_built_yet', holdout: { fraction: 0.1 } },
      ],
    });
    expect(results.map((r) => [r.audience, r.status])).toEqual([
      ['abandoners', 'written'],
      ['recent_buyers', 'skipped'],
      ['not_built_yet', 'skipped'],
    ]);
    const written = results[0]!;
    if (written.status !== 'written') throw new Error('expected a report');
    // The newest matured entry day is 04-23; ten entry days back from it start on 04-14.
    expect(written.report.period).toEqual({ from: '2026-04-14', to: '2026-04-30' });
    expect(written.report.event).toBe('order_completed');
    expect(written.report.salt.assignment_mismatches).toBe(0);
    expect(written.report.pending.by_entry_day.map((d) => d.entered)[0]).toBe('2026-04-24');
    expect(await t.store.exists(keys.liftReport('abandoners', '2026-04-30', 'json'))).toBe(true);
    expect(await t.store.exists(keys.liftReport('abandoners', '2026-04-30', 'html'))).toBe(true);
  });

  it('reads back the newest written report, or a given day', async () => {
    await runMeasureStage({
      store: t.store,
      asOf: '2026-04-28',
      audiences: [{ id: 'abandoners', holdout: { fraction: 0.1 }, measure: { window_days: 7 } }],
    });
    const latest = await readLiftReport(t.store, 'abandoners');
    expect(latest?.day).toBe('2026-04-30');
    expect(latest?.report.as_of).toBe('2026-04-30');
    expect(latest?.htmlKey).toBe('reports/lift/abandoners/dt=2026-04-30/report.html');
    expect((await readLiftReport(t.store, 'abandoners', '2026-04-28'))?.report.as_of).toBe('2026-04-28');
    expect(await readLiftReport(t.store, 'abandoners', '2026-04-01')).toBeUndefined();
    expect(await readLiftReport(t.store, 'recent_buyers')).toBeUndefined();
  });
});
