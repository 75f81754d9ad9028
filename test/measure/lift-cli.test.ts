import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/contract/days.js';
import { readJson } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { type ScenarioTruth, writeScenario } from './fixtures.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

const CONFIG = `version: 1
audiences:
  - id: cart_recovery
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score:
      - { weight: 1, count: { event: checkout_started, within_days: 7 } }
    top_fraction: 0.5
    holdout: { fraction: 0.2, salt: cart-salt }
    measure: { event: Order Completed, window_days: 10 }
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 30 }
`;

describe('audience-sync lift', () => {
  let t: TestStore & { root: string };
  let config: string;
  let truth: ScenarioTruth;

  beforeAll(async () => {
    t = await createFsTestStore();
    config = join(t.root, 'audience-sync.yaml');
    await writeFile(config, CONFIG);
    truth = await writeScenario(t.store, {
      audienceId: 'cart_recovery',
      salt: 'cart-salt',
      fraction: 0.2,
      firstDay: '2026-02-01',
      entryDays: 10,
      stayDays: 2,
      people: 2000,
      windowDays: 10,
      holdoutRate: 0.1,
      lift: 0.06,
      seed: 3,
    });
  });
  afterAll(() => t.cleanup());

  async function cli(args: string[]) {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, 'lift', ...args], {
        env: { ...process.env, CONFIG: config, STORE_URL: t.root },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('prints the report JSON with --json, using the audience measure settings, and writes both files', async () => {
    const asOf = addDays('2026-02-10', 10);
    const { code, stdout } = await cli(['--audience', 'cart_recovery', '--as-of', asOf, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      audience: 'cart_recovery',
      period: { from: '2026-02-01', to: asOf },
      window_days: 10,
      event: 'order_completed',
      groups: {
        treatment: { people: truth.treatment.people, converters: truth.treatment.converters },
        holdout: { people: truth.holdout.people, converters: truth.holdout.converters },
      },
      srm: { expected_share: 0.2, flagged: false },
      contamination: { flagged: false },
      pending: { people: 0 },
    });
    for (const field of ['rate', 'revenue_per_person']) {
      expect(typeof report.groups.treatment[field]).toBe('number');
      expect(typeof report.groups.holdout[field]).toBe('number');
    }
    for (const field of ['estimate', 'ci_low', 'ci_high']) {
      expect(typeof report.absolute_lift[field]).toBe('number');
      expect(typeof report.relative_lift[field]).toBe('number');
    }
    expect(typeof report.p_value).toBe('number');
    expect(typeof report.mde).toBe('number');
    expect(typeof report.srm.observed_share).toBe('number');
    expect(typeof report.srm.p_value).toBe('number');
    const saved = await readJson<{ headline: string }>(
      t.store,
      `reports/lift/cart_recovery/dt=${asOf}/report.json`,
    );
    expect(saved.headline).toBe(report.headline);
    expect(await t.store.exists(`reports/lift/cart_recovery/dt=${asOf}/report.html`)).toBe(true);
  });

  it('prints a summary for people, and --window-days overrides the configuration', async () => {
    const { code, stdout } = await cli([
      '--audience',
      'cart_recovery',
      '--from',
      '2026-02-03',
      '--to',
      '2026-02-08',
      '--as-of',
      '2026-02-15',
      '--window-days',
      '7',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^cart_recovery: entries 2026-02-03\.\.2026-02-08, order_completed within 7 days, as of 2026-02-15$/m,
    );
    expect(stdout).toMatch(/^ {2}treatment +[\d,]+ people +[\d,]+ converted +\d+\.\d\d%$/m);
    // The last entry day of the period, 02-08, matures on 02-15 with a 7-day window: nothing pending.
    expect(stdout).toMatch(/^ {2}pending +0 people/m);
    expect(stdout).toMatch(/wrote reports\/lift\/cart_recovery\/dt=2026-02-15\/report\.json/);
  });

  // Three whole CLI processes.
  it('exits 2 naming the problem for an unknown audience, one without a holdout, or a bad day', {
    timeout: 90_000,
  }, async () => {
    const unknown = await cli(['--audience', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toMatch(
      /^error: unknown audience nope in .* \(configured: cart_recovery, buyers\)$/,
    );
    const noHoldout = await cli(['--audience', 'buyers']);
    expect(noHoldout.code).toBe(2);
    expect(noHoldout.stderr).toMatch(/audience buyers has no usable holdout/);
    const badDay = await cli(['--audience', 'cart_recovery', '--as-of', '2026-13-01']);
    expect(badDay.code).toBe(2);
    expect(badDay.stderr).toMatch(/--as-of must be a day as YYYY-MM-DD/);
    const badWindow = await cli(['--audience', 'cart_recovery', '--window-days', 'two']);
    expect(badWindow.code).toBe(2);
    expect(badWindow.stderr).toMatch(/--window-days must be a whole number/);
  });
});
