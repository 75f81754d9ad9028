import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastCompleteDayIn } from '../../src/pipeline/stages.js';
import { listRuns } from '../../src/sync/runs.js';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import { writeCheckoutDay } from '../helpers/raw-days.js';
import { type ConsoleHarness, signIn, startConsoleApp, startWorkerRig, type WorkerRig } from './fixture.js';

/**
 * "Sync now" runs for real: the console queues a refresh of the audience for the last complete day
 * (people, build, sync, measure); a worker takes it through to a completed sync run against the
 * fake Meta, which then holds exactly that day's treatment members (their hashed emails).
 */
describe('console "sync now" through a worker to the platform fake', () => {
  let h: ConsoleHarness;
  let rig: WorkerRig;
  const day = lastCompleteDayIn('UTC');

  beforeAll(async () => {
    rig = await startWorkerRig();
    h = await startConsoleApp();
    // The last complete day's raw data: 30 people who started a checkout.
    const ts = `${day}T08:00:00.000Z`;
    const people = Array.from({ length: 30 }, (_, i) => ({
      customer_id: `now${String(i).padStart(2, '0')}`,
      email: `now.${i}@example.net`,
      ts,
    }));
    await writeCheckoutDay(h.store, day, people);
  });
  afterAll(async () => {
    await rig?.close();
    await h?.close();
  });

  it('queues a refresh that a worker completes, and the fake Meta holds the treatment members', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const res = await h.app.inject({
      method: 'POST',
      url: `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}/sync`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      payload: new URLSearchParams({ _csrf: csrf, confirm: 'yes' }).toString(),
    });
    expect(res.statusCode).toBe(202);
    expect(res.body).toContain(`for ${day}`);

    await rig.start(h);
    const record = await rig.waitForRun(h, async () => {
      const runs = await listRuns(h.store, DESTINATION, AUDIENCE);
      return runs
        .filter((r) => r.day === day)
        .sort((a, b) => a.attempt - b.attempt)
        .at(-1)?.key;
    });
    const seen = JSON.stringify({ status: record?.status, error: record?.error, guards: record?.guards });
    expect(record?.error, seen).toBeUndefined();
    expect(record?.status, seen).toBe('completed');
    expect(record?.day).toBe(day);

    const { expected, held } = await rig.audienceOf(h, day);
    expect(expected.length).toBeGreaterThan(10);
    expect(held).toEqual(expected);
    expect(rig.fake.state.shapeErrors).toEqual([]);
  }, 150_000);
});
