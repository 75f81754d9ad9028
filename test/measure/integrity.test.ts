import { hash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addDays } from '../../src/contract/days.js';
import { expectedGroup } from '../../src/measure/assignment.js';
import { measureLift } from '../../src/measure/report.js';
import { writeJsonl } from '../../src/storage/jsonl.js';
import { keys } from '../../src/storage/keys.js';
import { writeJson } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { event, type MemberLine, member, writeEvents, writeScenario, writeSnapshot } from './fixtures.js';

const AUDIENCE = 'winback';
const SALT = 'winback-salt';

let t: TestStore;
beforeEach(async () => {
  t = await createFsTestStore();
});
afterEach(() => t.cleanup());

function lift(overrides: Partial<Parameters<typeof measureLift>[0]> = {}) {
  return measureLift({
    store: t.store,
    audienceId: AUDIENCE,
    asOf: '2026-05-31',
    windowDays: 7,
    event: 'order_completed',
    holdoutFraction: 0.1,
    salt: SALT,
    write: false,
    ...overrides,
  });
}

/** One snapshot on 2026-05-01 of `n` people with the given group rule. */
async function snapshot(
  n: number,
  group: (id: string, i: number) => 'treatment' | 'holdout',
): Promise<MemberLine[]> {
  const members = Array.from({ length: n }, (_, i) => {
    const id = `p${i}`;
    return member(id, group(id, i), '2026-05-01', i + 1);
  });
  await writeSnapshot(t.store, AUDIENCE, '2026-05-01', members, { holdout: { fraction: 0.1, salt: SALT } });
  return members;
}

describe('sample-ratio mismatch check', () => {
  it('stays quiet when groups follow the configured fraction', async () => {
    await snapshot(5000, (id) => expectedGroup(SALT, 0.1, id));
    const { report } = await lift();
    expect(report.srm.flagged).toBe(false);
    expect(report.srm.p_value!).toBeGreaterThan(0.001);
    expect(report.warnings.join(' ')).not.toMatch(/Sample-ratio/);
  });

  it('fires when the holdout share is far off the configured fraction', async () => {
    // 15% holdout where 10% is configured: χ² on 5000 people is about 139.
    await snapshot(5000, (_, i) => (i % 20 < 3 ? 'holdout' : 'treatment'));
    const { report } = await lift();
    expect(report.srm).toMatchObject({ expected_share: 0.1, observed_share: 0.15, flagged: true });
    expect(report.srm.p_value!).toBeLessThan(1e-20);
    expect(report.warnings[0]).toMatch(
      /^Sample-ratio mismatch: the holdout is 15\.00% of the cohort, 10\.00% was configured/,
    );
    expect(report.headline).toMatch(/See the warnings before acting on it\.$/);
  });
});

describe('contamination check', () => {
  it('finds holdout people in any destination ledger of this audience, counted once per person', async () => {
    const members = await snapshot(400, (id) => expectedGroup(SALT, 0.1, id));
    const holdout = members.filter((m) => m.group === 'holdout').map((m) => m.customer_id);
    const treatment = members.filter((m) => m.group === 'treatment').map((m) => m.customer_id);
    expect(holdout.length).toBeGreaterThan(5);
    await writeJsonl(t.store, keys.ledger('meta', AUDIENCE), [
      ...treatment.map((customer_id) => ({ customer_id })),
      { customer_id: holdout[0], key: 'em' },
      { customer_id: holdout[0], key: 'ph' },
      { customer_id: holdout[1] },
    ]);
    await writeJsonl(t.store, keys.ledger('google', AUDIENCE), [
      { customer_id: holdout[1] },
      { customer_id: holdout[2] },
    ]);
    await writeJsonl(
      t.store,
      keys.ledger('tiktok', AUDIENCE),
      treatment.map((customer_id) => ({ customer_id })),
    );
    // Another audience's ledger and a run file are not this audience's ledgers.
    await writeJsonl(
      t.store,
      keys.ledger('meta', 'other_audience'),
      holdout.map((customer_id) => ({ customer_id })),
    );
    await writeJson(t.store, keys.syncRun('meta', AUDIENCE, 'run-1'), { customer_id: holdout[3] });

    const { report } = await lift();
    expect(report.contamination).toEqual({
      destinations_checked: ['google', 'meta', 'tiktok'],
      holdout_people: holdout.length,
      contaminated_people: 3,
      share: 3 / holdout.length,
      by_destination: { google: 2, meta: 2, tiktok: 0 },
      flagged: true,
      unreadable_lines: 0,
    });
    expect(report.warnings.join('\n')).toMatch(/Contamination: 3 holdout people .* \(google: 2, meta: 2\)/);
  });

  it('stays quiet when ledgers hold treatment people only', async () => {
    const members = await snapshot(400, (id) => expectedGroup(SALT, 0.1, id));
    await writeJsonl(
      t.store,
      keys.ledger('meta', AUDIENCE),
      members.filter((m) => m.group === 'treatment').map((m) => ({ customer_id: m.customer_id })),
    );
    const { report } = await lift();
    expect(report.contamination).toMatchObject({
      destinations_checked: ['meta'],
      contaminated_people: 0,
      flagged: false,
    });
  });
});

describe('salt change note', () => {
  it('notes a salt that changed during the period, and groups that moved within a stay', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `s${i}`);
    const day1 = ids.map((id) => member(id, expectedGroup('old-salt', 0.1, id), '2026-05-01'));
    const day2 = ids.map((id) => member(id, expectedGroup('new-salt', 0.1, id), '2026-05-01'));
    await writeSnapshot(t.store, AUDIENCE, '2026-05-01', day1, {
      holdout: { fraction: 0.1, salt: 'old-salt' },
    });
    await writeSnapshot(t.store, AUDIENCE, '2026-05-02', day2, {
      holdout: { fraction: 0.1, salt: 'new-salt' },
    });
    const { report } = await lift({ salt: 'new-salt' });
    expect(report.salt.changed).toBe(true);
    expect(report.salt.manifest_salts).toEqual(['new-salt', 'old-salt']);
    expect(report.salt.group_changes).toBeGreaterThan(0);
    // Intent-to-treat: the first recorded group counts, which the old salt decided.
    expect(report.salt.assignment_mismatches).toBe(report.salt.group_changes);
    expect(report.groups.holdout.people).toBe(day1.filter((m) => m.group === 'holdout').length);
    expect(report.salt.note).toMatch(/used 2 holdout salt\(s\) \("new-salt", "old-salt"\)/);
    expect(report.warnings).toContain(report.salt.note);
  });

  it('notes groups that do not follow the configured salt even without manifests', async () => {
    const ids = Array.from({ length: 300 }, (_, i) => `s${i}`);
    await writeSnapshot(
      t.store,
      AUDIENCE,
      '2026-05-01',
      ids.map((id) => member(id, expectedGroup('someone-elses-salt', 0.1, id), '2026-05-01')),
    );
    const { report } = await lift();
    expect(report.salt.manifest_salts).toEqual([]);
    expect(report.salt.assignment_mismatches).toBeGreaterThan(0);
    expect(report.salt.note).toMatch(
      /people are in a different group than the configured salt and fraction give/,
    );
  });

  it('is silent when the salt stayed the same', async () => {
    await snapshot(300, (id) => expectedGroup(SALT, 0.1, id));
    const { report } = await lift();
    expect(report.salt).toMatchObject({
      changed: false,
      assignment_mismatches: 0,
      group_changes: 0,
      note: null,
    });
  });
});

describe('reading the data', () => {
  it('de-duplicates events on id (earliest received wins), resolves email-only events, counts unresolved ones', async () => {
    await writeSnapshot(t.store, AUDIENCE, '2026-05-01', [
      member('alice', expectedGroup(SALT, 0.1, 'alice'), '2026-05-01'),
      member('bob', expectedGroup(SALT, 0.1, 'bob'), '2026-05-01'),
      member('carol', expectedGroup(SALT, 0.1, 'carol'), '2026-05-01'),
    ]);
    await writeJsonl(t.store, keys.peopleSnapshot('2026-05-20'), [
      { customer_id: 'bob', email: 'bob@example.com', ts: '2026-04-01T00:00:00.000Z' },
    ]);
    // A later people snapshot than as-of must not be used.
    await writeJsonl(t.store, keys.peopleSnapshot('2026-06-05'), [
      { customer_id: 'carol', email: 'stranger@example.com', ts: '2026-06-01T00:00:00.000Z' },
    ]);
    const ts = '2026-05-03T10:00:00.000Z';
    // Same id twice in two parts: the copy received first wins, wherever it sits.
    await writeJsonl(t.store, keys.rawPart('events', '2026-05-03', '1-0', '1-0'), [
      event({ id: 'dup', customer_id: 'alice', ts, received_at: '2026-05-03T10:05:00.000Z' }, { value: 100 }),
    ]);
    await writeEvents(
      t.store,
      [
        event(
          { id: 'dup', customer_id: 'alice', ts, received_at: '2026-05-03T10:01:00.000Z' },
          { value: 60 },
        ),
        event({ id: 'mail', email: ' Bob@Example.com ', ts }, { total: 25 }),
        event({ id: 'anon', anonymous_id: 'a-1', ts }, { value: 5 }),
        event({ id: 'stranger', email: 'stranger@example.com', ts }, { value: 5 }),
      ],
      '2-0',
    );
    const { report } = await lift();
    expect(report.outcomes).toMatchObject({
      events: 4,
      duplicates: 1,
      resolved_by_email: 1,
      unresolved: 2,
      counted: 2,
      people_snapshot: '2026-05-20',
    });
    const revenue = report.groups.treatment.revenue + report.groups.holdout.revenue;
    expect(revenue).toBe(85);
    expect(report.groups.treatment.converters + report.groups.holdout.converters).toBe(2);
    expect(report.warnings.join('\n')).toMatch(/2 order_completed events could not be tied to a person/);
  });

  it('counts a person once: the first stay that began in the period', async () => {
    const id = 'returner';
    const group = expectedGroup(SALT, 0.1, id);
    await writeSnapshot(t.store, AUDIENCE, '2026-05-01', [member(id, group, '2026-05-01')]);
    await writeSnapshot(t.store, AUDIENCE, '2026-05-02', [member(id, group, '2026-05-01')]);
    await writeSnapshot(t.store, AUDIENCE, '2026-05-05', [member(id, group, '2026-05-05')]);
    // Converts in the window of the second stay only (05-06 .. 05-12); the first window is 05-02 .. 05-08.
    await writeEvents(t.store, [
      event({ id: 'x', customer_id: id, ts: '2026-05-10T00:00:00.000Z' }, { value: 1 }),
    ]);
    const { report } = await lift();
    expect(report.groups[group]).toMatchObject({ people: 1, converters: 0 });
    expect(report.cohort.re_entries).toBe(1);
    // A period that starts after the first stay began takes the second stay.
    const { report: later } = await lift({ from: '2026-05-03' });
    expect(later.groups[group]).toMatchObject({ people: 1, converters: 1 });
  });

  it('skips corrupt and invalid member lines, counting them', async () => {
    await writeSnapshot(t.store, AUDIENCE, '2026-05-01', [
      member('ok', expectedGroup(SALT, 0.1, 'ok'), '2026-05-01'),
      {
        customer_id: 'bad-group',
        group: 'control',
        score: 1,
        rank: 2,
        entered: '2026-05-01',
      } as unknown as MemberLine,
      { customer_id: 'future', group: 'treatment', score: 1, rank: 3, entered: '2026-05-09' },
    ]);
    const { report } = await lift();
    expect(report.cohort.invalid_lines).toBe(2);
    expect(report.groups.treatment.people + report.groups.holdout.people).toBe(1);
  });
});

describe('report files', () => {
  it('writes a self-contained HTML page: Chart.js and the chart data inline, a CSP that allows nothing else', async () => {
    await writeScenario(t.store, {
      audienceId: AUDIENCE,
      salt: SALT,
      fraction: 0.1,
      firstDay: '2026-05-01',
      entryDays: 5,
      stayDays: 1,
      people: 500,
      windowDays: 7,
      holdoutRate: 0.2,
      lift: 0.05,
      seed: 7,
    });
    const { keys: written, report } = await lift({ write: true, asOf: addDays('2026-05-05', 7) });
    const html = (await t.store.get(written!.html)).toString('utf8');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // Three inline script elements, none loading a file: the chart data, Chart.js, the drawing code.
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => m[1])).toEqual([' type="application/json" id="lift-chart-data"', '', '']);
    expect(scripts[1]![2]).toContain('Chart.js v4');
    // Outside the scripts, the markup references nothing external.
    const markup = html.replace(/<script[^>]*>[\s\S]*?<\/script>/g, '');
    expect(markup).not.toMatch(/<link|<img|<iframe|@import|url\(/i);
    expect(markup).not.toMatch(/(?:src|href)\s*=/i);
    expect(markup).not.toMatch(/https?:\/\//);
    // The page's own policy allows exactly those two scripts (by hash) and no network.
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/
      .exec(markup)![1]!
      .replaceAll('&#39;', "'");
    expect(csp).toContain("default-src 'none'");
    const allowed = /script-src ([^;]+)/.exec(csp)![1]!.split(' ');
    expect(allowed).toEqual(scripts.slice(1).map((m) => `'sha256-${hash('sha256', m[2]!, 'base64')}'`));
    // The charts draw the report's numbers (percent and percentage points).
    const data = JSON.parse(scripts[0]![2]!);
    expect(data.rates.map((r: { group: string; rate: number }) => [r.group, r.rate])).toEqual([
      ['treatment', Math.round(report.groups.treatment.rate! * 1e6) / 1e4],
      ['holdout', Math.round(report.groups.holdout.rate! * 1e6) / 1e4],
    ]);
    expect(data.cumulative.map((p: { day: string }) => p.day)).toEqual(
      report.by_entry_day.map((d) => d.entered),
    );
    expect(markup.match(/<canvas /g)).toHaveLength(2);
    expect(html).toContain(report.headline.replaceAll("'", '&#39;').replaceAll('"', '&quot;'));
  });

  it('escapes text that comes from data', async () => {
    await snapshot(50, (id) => expectedGroup(SALT, 0.1, id));
    const { report } = await lift();
    const { renderLiftHtml } = await import('../../src/measure/html.js');
    const html = renderLiftHtml({ ...report, headline: '<b onmouseover="x">&</b>' });
    expect(html).toContain('&lt;b onmouseover=&quot;x&quot;&gt;&amp;&lt;/b&gt;');
    expect(html).not.toContain('<b onmouseover');
  });
});
