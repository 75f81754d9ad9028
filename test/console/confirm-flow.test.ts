import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/storage/keys.js';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import {
  BLOCKED_RUN,
  type ConsoleHarness,
  LAST_DAY,
  signIn,
  startConsoleApp,
  startWorkerRig,
  type WorkerRig,
} from './fixture.js';

/**
 * A console action runs for real: "confirm a guarded sync" queues a sync that a worker picks up
 * and completes against the fake Meta, which then holds exactly the treatment members of the day
 * (their hashed emails). (The guarded run in the fixture is a written record; the worker plans
 * again from the store, as a confirmed rerun does.)
 */
describe('console action through a worker to the platform fake', () => {
  let h: ConsoleHarness;
  let rig: WorkerRig;

  beforeAll(async () => {
    rig = await startWorkerRig();
    h = await startConsoleApp();
  });
  afterAll(async () => {
    await rig?.close();
    await h?.close();
  });

  it('confirms the blocked sync, and a worker completes it against the fake Meta', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const res = await h.app.inject({
      method: 'POST',
      url: `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}/confirm`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      payload: new URLSearchParams({
        _csrf: csrf,
        run_id: BLOCKED_RUN.runId,
        confirm_guard: 'yes',
      }).toString(),
    });
    expect(res.statusCode).toBe(202);

    await rig.start(h);
    const record = await rig.waitForRun(h, async () => keys.syncRun(DESTINATION, AUDIENCE, `${LAST_DAY}-3`));
    expect(record?.error).toBeUndefined();
    expect(record?.status).toBe('completed');

    const { expected, held } = await rig.audienceOf(h, LAST_DAY);
    expect(expected.length).toBeGreaterThan(0);
    expect(held).toEqual(expected);
    expect(rig.fake.state.shapeErrors).toEqual([]);
  }, 90_000);
});
