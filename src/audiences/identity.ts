import { Engine, type EngineSettings, sqlString } from '../engine/duckdb.js';
import { type CacheOptions, localFiles } from '../engine/local-files.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, statObject } from '../storage/object-store.js';
import { bindPeopleSnapshot, engineDefaults } from './session.js';
import { duckdb } from './sql/dialect.js';
import { identityStatements, ownerJoins, ownerSql } from './sql/plan.js';

/**
 * Who a reference (a record's `customer_id`, or failing that its email or Customer.io `cio_id`)
 * counts for in the people snapshot of `day`, by the same SQL the build runs: its own person, the
 * person it was aliased into, the first holder of its email or cio_id; a `customer_id` the
 * snapshot lacks is its own (new) person; undefined when nothing resolves.
 */
export interface IdentityRef {
  customer_id?: string;
  email?: string;
  cio_id?: string;
}

export async function resolveIdentities(
  store: ObjectStore,
  day: string,
  refs: readonly IdentityRef[],
  options: { engine?: EngineSettings; cache?: CacheOptions } = {},
): Promise<(string | undefined)[]> {
  if (refs.length === 0) return [];
  const defaults = engineDefaults(options);
  const engine = await Engine.open({ ...defaults.engine, threads: 1 });
  const files = localFiles(store, defaults.cache);
  const inUse = new Map<string, string>();
  try {
    await bindPeopleSnapshot(engine, files, inUse, await statObject(store, keys.peopleSnapshot(day)));
    for (const s of identityStatements()) await engine.run(duckdb.createTable(s.name, s.select));
    const text = (v: string | undefined) => (v === undefined ? 'CAST(NULL AS VARCHAR)' : sqlString(v));
    const values = refs
      .map((r, i) => `(${i}, ${text(r.customer_id)}, ${text(r.email)}, ${text(r.cio_id)})`)
      .join(', ');
    const rows = await engine.all<{ i: number; owner: string | null }>(
      `SELECT r.i, ${ownerSql('r', true)} AS owner
       FROM (VALUES ${values}) r(i, customer_id, email, cio_id)
       ${ownerJoins('r', true)}
       ORDER BY r.i`,
    );
    return rows.map((row) => row.owner ?? undefined);
  } finally {
    engine.close();
    await files.trim([...inUse.keys()]);
  }
}
