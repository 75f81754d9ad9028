import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { readMembers } from '../../src/audiences/members.js';
import { scoreTableRelationSql, scoreTableSchema } from '../../src/audiences/score-tables.js';
import { duckdb } from '../../src/audiences/sql/dialect.js';
import { athena, bigquery, DIALECTS, snowflake } from '../../src/audiences/sql/dialects/index.js';
import { audienceTableName, scoreTableSelect } from '../../src/audiences/sql/warehouse.js';
import { registerSqlCommand, sqlScript } from '../../src/cli/commands/sql.js';
import { compactDay } from '../../src/compaction/compact.js';
import {
  type AudienceSyncConfig,
  loadAudienceSyncConfig,
  parseAudienceSyncConfig,
} from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import type { MemberRecord } from '../../src/contract/records.js';
import { Engine } from '../../src/engine/duckdb.js';
import { updatePeopleSnapshot } from '../../src/people/snapshot.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { ev, msg, person, writePart } from './fixtures.js';

/**
 * `audience-sync sql`: the DuckDB script the command prints is executed and gives the members the
 * build writes; the warehouse scripts (Athena, BigQuery, Snowflake) are compared with golden files
 * (`UPDATE_GOLDEN=1` rewrites them; review the diff by eye). The warehouse scripts are never run.
 */

const D = '2026-03-10';
const GOLDEN = new URL('./golden/', import.meta.url).pathname;

/** Every construct the compiler has a dialect hook for: windows, where, sum/max/min/days_since, nested and index paths, person atoms, exclude, never_send, holdout. */
const FEATURES_YAML = `version: 1
never_send:
  any:
    - person: { unsubscribed: true }
    - message: { channel: email, metric: spammed }
      within_days: 30
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 14 }
  - id: top-cart-2026
    type: top_fraction
    when:
      all:
        - event: checkout_started
          within_days: 7
        - not: { person: { country: FR } }
    exclude: [buyers]
    score:
      - { weight: 1, count: { event: checkout_started, within_days: 7 } }
      - { weight: 0.01, sum: { event: checkout_started, property: value, within_days: 7 } }
      - { weight: 0.5, max: { event: checkout_started, property: value } }
      - { weight: 0.25, min: { event: checkout_started, property: cart.items.0.qty } }
      - { weight: -0.1, days_since: { event: checkout_started } }
      - { weight: 2, count: { message: { channel: email, metric: clicked }, within_days: 7 } }
    top_fraction: 0.6
    holdout: { fraction: 0.3, salt: "s'1" }
  - id: clickers
    type: segment
    when:
      message: { channel: email, metric: clicked, campaign_id: 501 }
      within_days: 5
  - id: vip
    type: segment
    when:
      all:
        - person: { attributes.ltv: { gte: 100 } }
        - event: page_viewed
          where: { path: { in: ["/pricing", "/checkout"] }, "utm.source": { ne: null } }
          within_days: 10
`;

const features = (): AudienceSyncConfig => parseAudienceSyncConfig(FEATURES_YAML, 'features.yaml', {}).config;

const t = (day: string, hh: number) => `${day}T${String(hh).padStart(2, '0')}:00:00.000Z`;

async function writeFixture(store: TestStore['store']): Promise<void> {
  const p0 = '2026-02-20';
  await writePart(store, 'people', p0, 'p1', [
    person('c1', t(p0, 1), { email: 'one@example.com', country: 'DE', attributes: { ltv: 150 } }),
    person('c2', t(p0, 1), { email: 'two@example.com', cio_id: 'cio-2', attributes: { ltv: '120' } }),
    person('c3', t(p0, 1), { email: 'three@example.com', country: 'FR' }),
    person('c4', t(p0, 1), { cio_id: 'cio-4', attributes: { ltv: 99 } }),
    person('c5', t(p0, 1), { email: 'five@example.com' }),
    person('c6', t(p0, 1), { email: 'six@example.com' }),
    person('c7', t(p0, 1), { unsubscribed: true }),
    person('c8', t(p0, 1), { email: 'eight@example.com', attributes: { ltv: 500 } }),
    // An alias: records of visitor-9 count for c2.
    { customer_id: 'c2', merged_from: 'visitor-9', ts: t(p0, 2) },
  ]);
  for (let back = 12; back >= 0; back--) {
    const day = addDays(D, -back);
    const events = [
      ev(`co-${day}-1`, 'c1', 'checkout_started', t(day, 3), {
        value: back * 2.5,
        cart: { items: [{ qty: back + 1 }] },
      }),
      ev(`co-${day}-2`, back % 2 ? 'c2' : 'visitor-9', 'checkout_started', t(day, 4), {
        value: String(10 + back),
      }),
      ev(`co-${day}-3`, { email: 'FIVE@example.com' }, 'checkout_started', t(day, 5), { value: 'n/a' }),
      ev(`pv-${day}-1`, 'c8', 'page_viewed', t(day, 6), {
        path: back % 3 ? '/pricing' : '/home',
        utm: { source: 'x' },
      }),
      ev(`pv-${day}-2`, 'c1', 'page_viewed', t(day, 6), { path: '/checkout', utm: { source: null } }),
      // The same record again, received later: the first copy wins.
      ev('dup-1', 'c3', 'checkout_started', t(day, 7), { value: back }, t(day, 8 + (back % 5))),
    ];
    if (back % 4 === 0) events.push(ev(`oc-${day}`, 'c4', 'order_completed', t(day, 9)));
    if (back === 6) events.push(ev(`oc-${day}-c1`, 'c1', 'order_completed', t(day, 9)));
    if (back === 3) events.push(ev(`co-${day}-6`, 'c6', 'checkout_started', t(day, 10), { value: 99 }));
    // New on day D: c8 starts a checkout, c2 views the pricing page.
    if (back === 0) {
      events.push(
        ev(`co-${day}-8`, 'c8', 'checkout_started', t(day, 15), { value: 1e3, cart: { items: {} } }),
      );
      events.push(
        ev(`pv-${day}-3`, 'c2', 'page_viewed', t(day, 16), { path: '/pricing', utm: { source: 'y' } }),
      );
    }
    const lines: (object | string)[] = [...events];
    if (back === 2) lines.splice(2, 0, '{"broken":', '[1, 2]');
    await writePart(store, 'events', day, `p${back % 2}`, lines);
    await writePart(store, 'messages', day, 'p1', [
      msg(`m-${day}-1`, 'c5', 'email', 'clicked', t(day, 11), { campaign_id: back % 2 ? '501' : '502' }),
      msg(`m-${day}-2`, { cio_id: 'cio-4' }, 'email', 'clicked', t(day, 12), { campaign_id: '501' }),
      msg(`m-${day}-3`, { email: 'SIX@example.com' }, 'email', back === 4 ? 'spammed' : 'opened', t(day, 13)),
      msg(`m-${day}-4`, 'c8', 'sms', 'delivered', t(day, 14)),
    ]);
  }
  // One closed day compacted to Parquet, plus a part that arrived after the compaction.
  const compacted = addDays(D, -5);
  const cacheDir = join(tmpdir(), 'audience-sync-sql-dialects-cache');
  await compactDay({
    store,
    dataset: 'events',
    day: compacted,
    cacheDir,
    now: new Date('2026-03-20T00:00:00Z'),
  });
  await compactDay({
    store,
    dataset: 'messages',
    day: compacted,
    cacheDir,
    now: new Date('2026-03-20T00:00:00Z'),
  });
  await writePart(store, 'events', compacted, 'late', [
    ev('late-1', 'c5', 'checkout_started', t(compacted, 20), { value: 7 }),
  ]);
}

type Row = Omit<MemberRecord, 'customer_id'> & { audience: string; customer_id: string };

async function runScript(script: string): Promise<Row[]> {
  const engine = await Engine.open({ threads: 2 });
  try {
    return await engine.all<Row>(script);
  } finally {
    engine.close();
  }
}

async function builtMembers(store: TestStore['store'], id: string, day: string): Promise<MemberRecord[]> {
  const out: MemberRecord[] = [];
  for await (const m of readMembers(store, id, day)) out.push(m);
  return out;
}

describe('audience-sync sql --dialect duckdb', () => {
  let fixture: TestStore & { root: string };
  let configPath: string;
  const printed: string[] = [];

  /** Runs the command in-process (as the CLI does) and returns what it printed. */
  async function command(args: string[]): Promise<string> {
    const program = new Command().exitOverride();
    registerSqlCommand(program);
    const chunks: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
    try {
      await program.parseAsync(['sql', ...args], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    const text = chunks.join('');
    printed.push(text);
    return text;
  }

  beforeAll(async () => {
    fixture = await createFsTestStore();
    configPath = join(fixture.root, '..', `${fixture.root.split('/').pop()}.yaml`);
    await writeFile(configPath, FEATURES_YAML);
    // getEnv() is read once per test file, on the first command.
    process.env.STORE_URL = fixture.root;
    process.env.CONFIG = configPath;
    await writeFixture(fixture.store);
    // The day before, built: today's members carry its `entered` days.
    await buildAudiences({ store: fixture.store, config: features(), day: addDays(D, -1) });
    await updatePeopleSnapshot({ store: fixture.store, day: D });
  }, 60_000);

  afterAll(async () => {
    await fixture?.cleanup();
  });

  it('prints a script that DuckDB runs to the members the build writes', async () => {
    const script = await command(['--date', D]);
    expect(script).toContain('read_parquet(');
    expect(script).toContain(`previous_a0: members of ${addDays(D, -1)}`);
    const rows = await runScript(script);

    const config = features();
    await buildAudiences({ store: fixture.store, config, day: D, updateSnapshot: false });
    let total = 0;
    for (const audience of config.audiences) {
      const built = await builtMembers(fixture.store, audience.id, D);
      const fromScript = rows
        .filter((r) => r.audience === audience.id)
        .map(({ audience: _a, ...m }) => ({ ...m, rank: Number(m.rank) }));
      expect(fromScript, audience.id).toEqual(built);
      total += built.length;
    }
    expect(total).toBeGreaterThanOrEqual(8);
    // The fixture exercises what it is for: carried and new entries, a holdout.
    expect(rows.some((r) => r.entered < D)).toBe(true);
    expect(rows.some((r) => r.entered === D)).toBe(true);
    expect(rows.some((r) => r.group === 'holdout')).toBe(true);
  }, 60_000);

  it('prints only the audiences asked for and the ones they exclude', async () => {
    const script = await command(['--date', D, '--audience', 'top-cart-2026']);
    const rows = await runScript(script);
    expect([...new Set(rows.map((r) => r.audience))].sort()).toEqual(['buyers', 'top-cart-2026']);
    const built = await builtMembers(fixture.store, 'top-cart-2026', D);
    expect(
      rows
        .filter((r) => r.audience === 'top-cart-2026')
        .map(({ audience: _a, ...m }) => ({ ...m, rank: Number(m.rank) })),
    ).toEqual(built);
  }, 60_000);

  it('stops with a message when the people snapshot of the day is missing', async () => {
    await expect(command(['--date', '2026-01-01'])).rejects.toThrow(
      /people\/dt=2026-01-01\/people\.jsonl\.gz/,
    );
  });

  it('prints a warehouse dialect without touching the store', async () => {
    const script = await command(['--date', D, '--dialect', 'snowflake', '--location', 's3://bucket/prefix']);
    expect(script).toContain("URL = 's3://bucket/prefix/'");
    await expect(command(['--date', D, '--dialect', 'athena'])).rejects.toThrow(/--location is required/);
    await expect(command(['--date', D, '--dialect', 'oracle'])).rejects.toThrow(/--dialect must be one of/);
  });
});

/** Two score tables, one of each format, with every column type. */
const SCORE_TABLES_YAML = `version: 1
score_tables:
  churn: { prefix: models/churn, format: parquet, max_age_days: 2, columns: { churn_risk: number, next_product: string } }
  ltv: { prefix: models/ltv/v2, format: csv, max_age_days: 7, columns: { ltv: number, renewal: date } }
traits:
  churn_risk: { score_table: churn, column: churn_risk, default: 0 }
  ltv: { score_table: ltv, column: ltv }
  renewal: { score_table: ltv, column: renewal }
audiences:
  - id: at_risk
    type: top_fraction
    when: { trait: { churn_risk: { gte: 0.5 }, renewal: { lte: "2026-04-01" } } }
    score: [{ weight: 1, trait: churn_risk }, { weight: 0.001, trait: ltv }]
    top_fraction: 0.5
`;

describe('the warehouse score-table relation, run in DuckDB over dt= partitions', () => {
  const def = scoreTableSchema.parse({
    prefix: 'models/ltv',
    format: 'csv',
    max_age_days: 1,
    columns: { ltv: 'number', renewal: 'date' },
  });
  let root: string;
  let engine: Engine;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'audience-sync-score-wh-'));
    const partitions: Record<string, string> = {
      '2026-03-08': 'customer_id,ltv,renewal\nold,1,2026-01-01\n',
      // The newest on or before D: a type error, an empty value, an invalid day, a duplicate key
      // (none of its rows used), a row without a key.
      '2026-03-09':
        'customer_id,ltv,renewal\na,12.5,2026-04-01\nb,n/a,not-a-day\nc,,2026-02-30\nd,1,2026-01-01\nd,2,2026-01-02\n,3,2026-01-03\n',
      // After D: ignored.
      '2026-03-11': 'customer_id,ltv,renewal\nfuture,9,2026-09-09\n',
    };
    for (const [dt, csv] of Object.entries(partitions)) {
      const dir = join(root, `models/ltv/dt=${dt}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'part-0000.csv'), csv);
      await writeFile(join(dir, '_SUCCESS'), '');
    }
    engine = await Engine.open({ threads: 1 });
  });
  afterAll(async () => {
    engine.close();
    await rm(root, { recursive: true, force: true });
  });

  const select = (day: string, maxAge = def.max_age_days) =>
    scoreTableSelect({
      d: duckdb,
      day,
      name: 'ltv',
      def: { ...def, max_age_days: maxAge },
      data: `SELECT * FROM read_csv('${root}/models/ltv/*/*.csv', header = true, all_varchar = true, union_by_name = true, hive_partitioning = true, hive_types_autocast = false)`,
      fail: (message) => `error(${message})`,
    });

  it('reads the newest partition on or before D as the build does', async () => {
    const rows = await engine.all(`SELECT * FROM (${select(D)}) ORDER BY customer_id`);
    const built = await engine.all(
      `SELECT * FROM (${scoreTableRelationSql(def, [join(root, 'models/ltv/dt=2026-03-09/part-0000.csv')])}) ORDER BY customer_id`,
    );
    expect(rows).toEqual(built);
    expect(rows).toEqual([
      { customer_id: 'a', ltv: 12.5, renewal: '2026-04-01' },
      { customer_id: 'b', ltv: null, renewal: null },
      { customer_id: 'c', ltv: null, renewal: null },
    ]);
  });

  it('fails naming the table when the newest partition is stale or there is none', async () => {
    // D = 03-11 sees the 03-11 partition; D = 03-10 with max_age_days 0 accepts only 03-10.
    expect(await engine.all(`SELECT customer_id FROM (${select('2026-03-11')})`)).toEqual([
      { customer_id: 'future' },
    ]);
    await expect(engine.all(`SELECT * FROM (${select(D, 0)})`)).rejects.toThrow(
      'score table "ltv": stale: its newest partition is dt=2026-03-09, before 2026-03-10 (max_age_days 0)',
    );
    await expect(engine.all(`SELECT * FROM (${select('2026-03-07')})`)).rejects.toThrow(
      'score table "ltv": no partition with rows on or before 2026-03-07 under models/ltv/',
    );
  });
});

describe('warehouse dialects (golden; not run against the engines)', () => {
  const cases = [
    { name: 'athena', location: 's3://acme-audiences/prod' },
    { name: 'bigquery', location: 'gs://acme-audiences/prod' },
    { name: 'snowflake', location: 's3://acme-audiences/prod' },
  ] as const;

  async function golden(file: string, text: string): Promise<void> {
    const path = join(GOLDEN, file);
    if (process.env.UPDATE_GOLDEN === '1') {
      await mkdir(GOLDEN, { recursive: true });
      await writeFile(path, text);
      return;
    }
    expect(text, `${file} differs: rerun with UPDATE_GOLDEN=1 and review the diff`).toBe(
      await readFile(path, 'utf8'),
    );
  }

  for (const c of cases) {
    it(`${c.name}: audience-sync.example.yaml`, async () => {
      const { config } = await loadAudienceSyncConfig('audience-sync.example.yaml', {});
      const script = await sqlScript({
        config,
        day: D,
        dialect: DIALECTS[c.name],
        warehouse: { location: c.location },
      });
      await golden(`${c.name}.sql`, script);
    });

    it(`${c.name}: every construct (the DuckDB test's configuration)`, async () => {
      const script = await sqlScript({
        config: features(),
        day: D,
        dialect: DIALECTS[c.name],
        warehouse: { location: `${c.location}/`, namespace: 'audiences_prod' },
      });
      await golden(`${c.name}-features.sql`, script);
    });
  }

  for (const c of cases) {
    it(`${c.name}: score tables (Parquet and CSV) as external tables over their dt= partitions`, async () => {
      const script = await sqlScript({
        config: parseAudienceSyncConfig(SCORE_TABLES_YAML, 'test.yaml', {}).config,
        day: D,
        dialect: DIALECTS[c.name],
        warehouse: { location: c.location },
      });
      expect(script).not.toMatch(/create it first/);
      expect(script).toContain('score_churn: the newest dt= partition on or before 2026-03-10');
      await golden(`${c.name}-score-tables.sql`, script);
    });
  }

  it('writes literals each engine reads back as the same string', () => {
    const s = "it's a \\ back\nslash";
    expect(duckdb.str(s)).toBe("'it''s a \\ back\nslash'");
    expect(athena.str(s)).toBe("'it''s a \\ back\nslash'");
    expect(bigquery.str(s)).toBe("'it\\'s a \\\\ back\\nslash'");
    expect(snowflake.str(s)).toBe("'it''s a \\\\ back\\nslash'");
    expect(bigquery.str('\u0001')).toBe("'\\x01'");
  });

  it('reads a path segment that is a number as an array index or an object key', () => {
    expect(athena.jsonAt('x', ['a', '0', 'b'])).toBe(
      `json_extract(COALESCE(json_extract(json_extract(x, '$.a'), '$[0]'), json_extract(json_extract(x, '$.a'), '$["0"]')), '$.b')`,
    );
    expect(bigquery.jsonAt('x', ['a b'])).toBe(`JSON_QUERY(x, '$."a b"')`);
    expect(snowflake.jsonAt('x', ['a', '0'])).toBe(
      `IFF(IS_ARRAY(GET(x, 'a')), GET(GET(x, 'a'), 0), GET(GET(x, 'a'), '0'))`,
    );
  });

  it('computes an exact median in every dialect (the middle value, or the mean of the middle two)', () => {
    expect(duckdb.median('g')).toBe('median(g)');
    expect(snowflake.median('g')).toBe('MEDIAN(g)');
    // 1-based: elements (n + 1) / 2 and n / 2 + 1 in integer division (odd n: the same one).
    expect(athena.median('g')).toBe(
      '((element_at(array_sort(array_agg(g)), (count(g) + 1) / 2) + element_at(array_sort(array_agg(g)), count(g) / 2 + 1)) / 2)',
    );
    // 0-based: offsets (n - 1) DIV 2 and n DIV 2.
    expect(bigquery.median('g')).toBe(
      '((ARRAY_AGG(g IGNORE NULLS ORDER BY g)[OFFSET(DIV(COUNT(g) - 1, 2))] + ARRAY_AGG(g IGNORE NULLS ORDER BY g)[OFFSET(DIV(COUNT(g), 2))]) / 2)',
    );
    for (const d of Object.values(DIALECTS)) expect(d.median('g')).not.toMatch(/approx/i);
  });

  it('names external tables of audience ids that are not identifiers apart', () => {
    expect(audienceTableName('buyers')).toBe('audience_buyers');
    expect(audienceTableName('top-cart-2026')).toMatch(/^audience_top_cart_2026_[0-9a-f]{8}$/);
    expect(audienceTableName('top_cart_2026')).toBe('audience_top_cart_2026');
  });
});
