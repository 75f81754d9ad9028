import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildAudiences } from '../../src/audiences/build.js';
import { readManifest } from '../../src/audiences/members.js';
import { parseEnv } from '../../src/config/env.js';
import { type AudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { Engine } from '../../src/engine/duckdb.js';
import { checkScoreTables } from '../../src/health/checks/score-tables.js';
import { checkContext } from '../../src/health/context.js';
import { createLogger } from '../../src/log.js';
import { runRefreshInline } from '../../src/pipeline/refresh-inline.js';
import type { StageContext } from '../../src/pipeline/stages.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { configErrorOf } from '../helpers/config-error.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { ev, memberIds, person, writePart } from './fixtures.js';

const D = '2026-03-10';

const YAML = (format: 'csv' | 'parquet', maxAge = 2) => `version: 1
score_tables:
  churn:
    prefix: models/churn
    format: ${format}
    max_age_days: ${maxAge}
    columns: { churn_risk: number, next_product: string }
traits:
  churn_risk: { score_table: churn, column: churn_risk, default: 0 }
  next_product: { score_table: churn, column: next_product }
  orders: { count: { event: order, within_days: 30 } }
audiences:
  - id: at_risk
    type: top_fraction
    when: { trait: { churn_risk: { gte: 0.5 } } }
    score: [{ weight: 1, trait: churn_risk }]
    top_fraction: 1
  - id: buyers
    type: segment
    when: { trait: { orders: { gte: 1 } } }
`;

function config(yaml: string): AudienceSyncConfig {
  return parseAudienceSyncConfig(yaml, 'test.yaml', {}).config;
}

function ids(store: ObjectStore, id: string): Promise<string[]> {
  return memberIds(store, id, D);
}

async function writeCsv(store: ObjectStore, dt: string, rows: string[], complete = true): Promise<void> {
  await store.put(
    `models/churn/dt=${dt}/part-0.csv`,
    `customer_id,churn_risk,next_product\n${rows.join('\n')}\n`,
  );
  if (complete) await store.put(`models/churn/dt=${dt}/_SUCCESS`, '');
}

/** A Parquet file written by DuckDB from a VALUES list, as another system would drop it. */
async function writeParquet(store: ObjectStore, dt: string, values: string): Promise<void> {
  const file = join(tmpdir(), `score-${process.pid}-${dt}.parquet`);
  const engine = await Engine.open({ threads: 1 });
  try {
    await engine.run(
      `COPY (SELECT * FROM (VALUES ${values}) v(customer_id, churn_risk, next_product)) TO '${file}' (FORMAT parquet)`,
    );
  } finally {
    engine.close();
  }
  await store.put(`models/churn/dt=${dt}/part-0.parquet`, await readFile(file));
  await rm(file, { force: true });
  await store.put(`models/churn/dt=${dt}/_SUCCESS`, '');
}

/** The health check's context on the morning after D (its day is D). */
function health(store: ObjectStore, c: AudienceSyncConfig) {
  return checkContext({ store, config: c, now: new Date(`${addDays(D, 1)}T09:00:00.000Z`) });
}

describe('score tables', () => {
  let t: TestStore & { root: string };
  let store: ObjectStore;
  beforeEach(async () => {
    t = await createFsTestStore();
    store = t.store;
    await writePart(
      store,
      'people',
      D,
      'p',
      ['a', 'b', 'c', 'd'].map((id) => person(id, '2026-03-01T00:00:00.000Z')),
    );
    await writePart(store, 'events', D, 'p', [ev('1', 'd', 'order', '2026-03-10T01:00:00.000Z')]);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('reads the newest complete partition on or before the day (Parquet)', async () => {
    await writeParquet(store, addDays(D, -2), `('a', 0.9, 'x'), ('b', 0.1, 'y')`);
    await writeParquet(store, addDays(D, -1), `('a', 0.6, 'x'), ('b', 0.8, 'y'), ('c', 0.2, 'z')`);
    // Not complete (no _SUCCESS): a writer still at work.
    await store.put(`models/churn/dt=${D}/part-0.parquet`, 'half-written');
    // After the day: not "as of D".
    await writeParquet(store, addDays(D, 1), `('c', 0.99, 'z')`);
    const result = await buildAudiences({
      store,
      config: config(YAML('parquet')),
      day: D,
      engine: { threads: 1 },
    });
    expect(result.failed).toEqual([]);
    expect(await ids(store, 'at_risk')).toEqual(['b', 'a']);
    expect(result.score_tables).toEqual([
      {
        table: 'churn',
        partition: addDays(D, -1),
        age_days: 1,
        files: 1,
        rows: 3,
        missing_keys: 0,
        duplicate_keys: 0,
        duplicate_rows: 0,
        type_errors: { churn_risk: 0, next_product: 0 },
        used_rows: 3,
      },
    ]);
  });

  it('a build lists and describes the partition once: the gate checks it, the session binds what it checked', async () => {
    await writeParquet(store, addDays(D, -1), `('a', 0.6, 'x'), ('b', 0.8, 'y')`);
    const c = config(YAML('parquet'));
    const describes: string[] = [];
    const all = Engine.prototype.all;
    const describe = vi.spyOn(Engine.prototype, 'all').mockImplementation(function (
      this: Engine,
      sql,
      params,
    ) {
      if (/^\s*DESCRIBE/i.test(sql)) describes.push(sql);
      return all.call(this, sql, params) as never;
    });
    const list = vi.spyOn(store, 'list');
    let listed: string[] = [];
    try {
      const result = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
      expect(result.failed).toEqual([]);
      expect(result.score_tables.map((r) => [r.table, r.partition, r.used_rows])).toEqual([
        ['churn', addDays(D, -1), 2],
      ]);
    } finally {
      listed = list.mock.calls.map(([prefix]) => prefix);
      describe.mockRestore();
      list.mockRestore();
    }
    expect(describes).toHaveLength(1);
    expect(describes[0]).toContain('read_parquet(');
    expect(listed.filter((prefix) => prefix.startsWith('models/churn/'))).toEqual(['models/churn/dt=']);
    expect(await ids(store, 'at_risk')).toEqual(['b', 'a']);
  });

  it('counts missing keys, duplicate keys and wrong types, and uses none of those values', async () => {
    await writeCsv(store, D, [
      'a,0.7,x',
      'b,high,y', // not a number
      ',0.9,z', // no customer_id
      'c,0.8,z',
      'c,0.95,z', // c twice: neither row is used
      'd,,w', // missing value: not a type error
    ]);
    const result = await buildAudiences({
      store,
      config: config(YAML('csv')),
      day: D,
      engine: { threads: 1 },
    });
    expect(result.score_tables[0]).toMatchObject({
      partition: D,
      age_days: 0,
      rows: 6,
      missing_keys: 1,
      duplicate_keys: 1,
      duplicate_rows: 2,
      type_errors: { churn_risk: 1, next_product: 0 },
      used_rows: 3,
    });
    // b's unreadable and c's duplicated scores are missing: the default 0 is not at risk.
    expect(await ids(store, 'at_risk')).toEqual(['a']);
  });

  it('a stale table fails the audiences that depend on it, builds the others, and alerts', async () => {
    await writeCsv(store, addDays(D, -3), ['a,0.9,x']);
    const c = config(YAML('csv', 2));
    const result = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    expect(result.failed).toEqual([
      {
        audience: 'at_risk',
        table: 'churn',
        reason: 'stale',
        message: `score table "churn" is stale: its newest complete partition is dt=${addDays(D, -3)}, 3 days before ${D} (max_age_days 2; the oldest accepted is ${addDays(D, -2)})`,
      },
    ]);
    expect(result.audiences.map((m) => m.audience)).toEqual(['buyers']);
    expect(await ids(store, 'buyers')).toEqual(['d']);
    // No snapshot of the failed audience: nothing old is synced as if it were today's.
    expect(await readManifest(store, 'at_risk', D)).toBeUndefined();

    const findings = await checkScoreTables(health(store, c));
    expect(findings).toEqual([
      expect.objectContaining({
        id: 'score_table_stale:churn',
        severity: 'critical',
        kind: 'score_table_stale',
        details: { table: 'churn', reason: 'stale', day: D, audiences: 1 },
      }),
    ]);
    expect(findings[0]!.message).toMatch(/fails for at_risk$/);

    // Within max_age_days again: no finding, and the audience builds.
    await writeCsv(store, addDays(D, -1), ['a,0.9,x']);
    expect(await checkScoreTables(health(store, c))).toEqual([]);
    const again = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    expect(again.failed).toEqual([]);
    expect(await ids(store, 'at_risk')).toEqual(['a']);
  });

  it('the refresh does not sync an audience the build refused, and says why', async () => {
    await writeCsv(store, addDays(D, -5), ['a,0.9,x']);
    const text = YAML('csv')
      .replace('version: 1\n', 'version: 1\ndestinations:\n  test: { type: dry_run }\n')
      .replace('    top_fraction: 1\n', '    top_fraction: 1\n    sync: [test]\n')
      .replace(
        '    when: { trait: { orders: { gte: 1 } } }\n',
        '    when: { trait: { orders: { gte: 1 } } }\n    sync: [test]\n',
      );
    const ctx: StageContext = {
      store,
      loaded: parseAudienceSyncConfig(text, 'test.yaml', {}),
      env: parseEnv({ STORE_URL: t.root, CONFIG: 'test.yaml', CACHE_DIR: join(t.root, '..', 'cache') }),
      log: createLogger({ level: 'silent' }),
    };
    const summary = await runRefreshInline(ctx, { day: D, dryRun: true });
    expect(summary.ok).toBe(false);
    expect(summary.audiences.map((a) => a.id)).toEqual(['buyers']);
    expect(summary.syncs.map((s) => [s.target.audienceId, s.status])).toEqual([
      ['buyers', 'completed'],
      ['at_risk', 'failed'],
    ]);
    expect(summary.syncs[1]!.error).toMatch(/^not built for 2026-03-10: score table "churn" is stale/);
  });

  it('a missing table (no complete partition) fails its audiences with the reason', async () => {
    await writeCsv(store, D, ['a,0.9,x'], false);
    const c = config(YAML('csv'));
    const result = await buildAudiences({ store, config: c, day: D, engine: { threads: 1 } });
    expect(result.failed.map((f) => [f.audience, f.reason])).toEqual([['at_risk', 'missing']]);
    expect(result.failed[0]!.message).toMatch(
      /has no complete partition on or before 2026-03-10 under models\/churn\//,
    );
    const findings = await checkScoreTables(health(store, c));
    expect(findings.map((f) => f.details?.reason)).toEqual(['missing']);
  });

  it('a partition without a declared column fails only the audiences that read the table, naming the column', async () => {
    await store.put(`models/churn/dt=${D}/part-0.csv`, 'customer_id,churn_risk\na,0.9\n');
    await store.put(`models/churn/dt=${D}/_SUCCESS`, '');
    await writePart(store, 'people', D, 'p', [person('a', `${D}T00:00:00.000Z`)]);
    await writePart(store, 'events', D, 'p', [ev('o1', 'a', 'order', `${D}T09:00:00.000Z`)]);
    const result = await buildAudiences({
      store,
      config: config(YAML('csv')),
      day: D,
      engine: { threads: 1 },
    });
    expect(result.failed).toEqual([
      {
        audience: 'at_risk',
        table: 'churn',
        reason: 'schema',
        message: `score table "churn" partition dt=${D} has no column next_product (declared: customer_id, churn_risk, next_product)`,
      },
    ]);
    expect(result.audiences.map((m) => m.audience)).toEqual(['buyers']);
    expect(await ids(store, 'buyers')).toEqual(['a']);
  });

  it('configuration: unknown tables and columns, and types, are errors naming the YAML path', () => {
    const err = configErrorOf;
    expect(
      err(
        YAML('csv').replace(
          'score_table: churn, column: churn_risk',
          'score_table: churm, column: churn_risk',
        ),
      ),
    ).toBe(
      'test.yaml: traits.churn_risk.score_table: unknown score table "churm" (defined under score_tables: churn)',
    );
    expect(err(YAML('csv').replace('column: next_product', 'column: next'))).toBe(
      'test.yaml: traits.next_product.column: score table "churn" declares no column "next" (declared: churn_risk, next_product)',
    );
    expect(
      err(`${YAML('csv')}  - { id: x, type: segment, when: { trait: { next_product: { gt: 1 } } } }\n`),
    ).toBe(
      'test.yaml: audiences[2].when.trait.next_product.gt: trait "next_product" is a string; 1 is not a string',
    );
    expect(err(YAML('csv').replace('max_age_days: 2', 'max_age_days: -1'))).toBe(
      'test.yaml: score_tables.churn.max_age_days: max_age_days must be at least 0',
    );
  });
});
