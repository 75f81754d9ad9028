import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedGroup } from '../../src/measure/assignment.js';
import { isMature, maturesOn, outcomeWindow } from '../../src/measure/outcomes.js';
import { measureLift } from '../../src/measure/report.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { event, member, writeEvents, writeSnapshot } from './fixtures.js';

/**
 * Outcome windows on exact UTC day boundaries: from the end of the entry day (exclusive of the
 * entry day itself) to window_days later; a cohort counts only once its window has ended by the
 * end of the as-of day, and is reported as pending until then.
 */

describe('outcome window arithmetic', () => {
  it('runs from the start of the next day for window_days whole days', () => {
    expect(outcomeWindow('2026-03-01', 14)).toEqual({
      start: '2026-03-02T00:00:00.000Z',
      end: '2026-03-16T00:00:00.000Z',
    });
    // Across a month end and a leap day.
    expect(outcomeWindow('2028-02-27', 2)).toEqual({
      start: '2028-02-28T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
    });
  });

  it('is mature once the as-of day reaches entered + window_days', () => {
    expect(isMature('2026-03-01', 14, '2026-03-14')).toBe(false);
    expect(isMature('2026-03-01', 14, '2026-03-15')).toBe(true);
    expect(maturesOn('2026-03-01', 14)).toBe('2026-03-15');
  });
});

const AUDIENCE = 'edges';
const SALT = 'edges-salt';
const FRACTION = 0.5;

/** Ids whose documented hash assignment lands in the wanted group, so the snapshots are honest. */
function idsIn(group: 'treatment' | 'holdout', count: number, prefix: string): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const id = `${prefix}${i}`;
    if (expectedGroup(SALT, FRACTION, id) === group) out.push(id);
  }
  return out;
}

describe('measureLift at window edges', () => {
  let t: TestStore;
  // Entered 2026-03-01: window [03-02T00:00Z, 03-16T00:00Z).
  const [atStart, justBefore, lastMs, atEnd] = idsIn('treatment', 4, 't');
  const [holdoutA, holdoutB] = idsIn('holdout', 2, 'h');
  // Entered 2026-03-02: matures on 03-16.
  const [late] = idsIn('treatment', 1, 'late');
  const [lateHoldout] = idsIn('holdout', 1, 'lateh');

  beforeAll(async () => {
    t = await createFsTestStore();
    await writeSnapshot(t.store, AUDIENCE, '2026-03-01', [
      member(atStart!, 'treatment', '2026-03-01'),
      member(justBefore!, 'treatment', '2026-03-01'),
      member(lastMs!, 'treatment', '2026-03-01'),
      member(atEnd!, 'treatment', '2026-03-01'),
      member(holdoutA!, 'holdout', '2026-03-01'),
      member(holdoutB!, 'holdout', '2026-03-01'),
    ]);
    await writeSnapshot(t.store, AUDIENCE, '2026-03-02', [
      member(atStart!, 'treatment', '2026-03-01'),
      member(late!, 'treatment', '2026-03-02'),
      member(lateHoldout!, 'holdout', '2026-03-02'),
    ]);
    await writeEvents(t.store, [
      event({ id: 'o1', customer_id: atStart!, ts: '2026-03-02T00:00:00.000Z' }, { value: 10 }),
      event({ id: 'o2', customer_id: justBefore!, ts: '2026-03-01T23:59:59.999Z' }, { value: 20 }),
      event({ id: 'o3', customer_id: lastMs!, ts: '2026-03-15T23:59:59.999Z' }, { value: '30.5' }),
      event({ id: 'o4', customer_id: atEnd!, ts: '2026-03-16T00:00:00.000Z' }, { value: 40 }),
      event({ id: 'o5', customer_id: holdoutA!, ts: '2026-03-09T12:00:00.000Z' }, { revenue: 7 }),
      event({ id: 'o6', customer_id: late!, ts: '2026-03-05T12:00:00.000Z' }, { value: 50 }),
    ]);
  });
  afterAll(() => t.cleanup());

  const run = (asOf: string) =>
    measureLift({
      store: t.store,
      audienceId: AUDIENCE,
      asOf,
      windowDays: 14,
      event: 'Order Completed',
      holdoutFraction: FRACTION,
      salt: SALT,
      write: false,
    });

  it('counts an event at the first instant and at the last millisecond, not on the entry day or at the end', async () => {
    const { report } = await run('2026-03-15');
    expect(report.event).toBe('order_completed');
    expect(report.groups.treatment).toMatchObject({ people: 4, converters: 2 });
    expect(report.groups.treatment.revenue).toBeCloseTo(40.5, 12);
    expect(report.groups.holdout).toMatchObject({ people: 2, converters: 1, revenue: 7 });
    expect(report.outcomes.counted).toBe(3);
  });

  it('reports the next day as pending, with when it matures, and does not count it', async () => {
    const { report } = await run('2026-03-15');
    expect(report.pending).toEqual({
      people: 2,
      treatment: 1,
      holdout: 1,
      by_entry_day: [{ entered: '2026-03-02', treatment: 1, holdout: 1, matures_on: '2026-03-16' }],
    });
    const { report: next } = await run('2026-03-16');
    expect(next.pending.people).toBe(0);
    expect(next.groups.treatment).toMatchObject({ people: 5, converters: 3 });
    expect(next.groups.holdout).toMatchObject({ people: 3, converters: 1 });
  });

  it('shows everything as pending one day before the first window ends', async () => {
    const { report } = await run('2026-03-14');
    expect(report.groups.treatment.people + report.groups.holdout.people).toBe(0);
    expect(report.pending.people).toBe(8);
    expect(report.absolute_lift).toEqual({ estimate: null, ci_low: null, ci_high: null });
    expect(report.headline).toMatch(/^No matured cohort yet: 8 people .* as of 2026-03-15\.$/);
  });

  it('narrows the cohort to the entry days of the period', async () => {
    const { report } = await measureLift({
      store: t.store,
      audienceId: AUDIENCE,
      from: '2026-03-02',
      to: '2026-03-02',
      asOf: '2026-03-20',
      windowDays: 14,
      event: 'order_completed',
      holdoutFraction: FRACTION,
      salt: SALT,
      write: false,
    });
    expect(report.period).toEqual({ from: '2026-03-02', to: '2026-03-02' });
    expect(report.groups.treatment).toMatchObject({ people: 1, converters: 1 });
    expect(report.groups.holdout).toMatchObject({ people: 1, converters: 0 });
  });

  it('honours a shorter window', async () => {
    // window_days 3 → [03-02, 03-05): only the event at 03-02T00:00 counts for the 03-01 cohort.
    const { report } = await measureLift({
      store: t.store,
      audienceId: AUDIENCE,
      to: '2026-03-01',
      asOf: '2026-03-04',
      windowDays: 3,
      event: 'order_completed',
      holdoutFraction: FRACTION,
      salt: SALT,
      write: false,
    });
    expect(report.groups.treatment).toMatchObject({ people: 4, converters: 1 });
    expect(report.groups.holdout).toMatchObject({ people: 2, converters: 0 });
  });

  it('rejects bad parameters with a message naming them', async () => {
    const base = {
      store: t.store,
      audienceId: AUDIENCE,
      asOf: '2026-03-20',
      windowDays: 14,
      event: 'order_completed',
      holdoutFraction: FRACTION,
      salt: SALT,
      write: false,
    };
    await expect(measureLift({ ...base, asOf: '2026-02-30' })).rejects.toThrow(/as-of must be a day/);
    await expect(measureLift({ ...base, windowDays: 0 })).rejects.toThrow(
      /window days must be a whole number/,
    );
    await expect(measureLift({ ...base, holdoutFraction: 0 })).rejects.toThrow(/holdout fraction/);
    await expect(measureLift({ ...base, from: '2026-03-05', to: '2026-03-01' })).rejects.toThrow(
      /is after to/,
    );
    await expect(measureLift({ ...base, to: '2026-03-21' })).rejects.toThrow(/after as-of/);
    await expect(measureLift({ ...base, audienceId: 'nobody' })).rejects.toMatchObject({
      kind: 'no_data',
      message: expect.stringMatching(/no member snapshots for audience nobody/),
    });
    await expect(measureLift({ ...base, audienceId: '../x' })).rejects.toMatchObject({ kind: 'input' });
  });
});
