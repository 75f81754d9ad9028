import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { readMembers } from '../../src/audiences/members.js';
import { DIALECTS } from '../../src/audiences/sql/dialects/index.js';
import { sqlScript } from '../../src/cli/commands/sql.js';
import type { AudienceSyncConfig } from '../../src/config-file.js';
import { Engine } from '../../src/engine/duckdb.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/**
 * Prints the DuckDB script of `audience-sync sql` for a built day, runs it, and expects each of
 * `ids` to have the members the build wrote. Returns the script.
 */
export async function expectScriptAgreesWithBuild(
  store: ObjectStore,
  config: AudienceSyncConfig,
  day: string,
  ids: readonly string[],
): Promise<string> {
  const script = await sqlScript({
    config,
    day,
    dialect: DIALECTS.duckdb,
    store,
    cache: { dir: join(tmpdir(), 'audience-sync-script-test-cache'), maxBytes: 1e8 },
  });
  const engine = await Engine.open({ threads: 1 });
  let rows: Record<string, unknown>[];
  try {
    rows = await engine.all(script);
  } finally {
    engine.close();
  }
  for (const id of ids) {
    const built = [];
    for await (const m of readMembers(store, id, day)) built.push(m);
    const fromScript = rows
      .filter((r) => r.audience === id)
      .map(({ audience: _a, ...m }) => ({ ...m, rank: Number(m.rank) }));
    expect(fromScript, id).toEqual(built);
  }
  return script;
}
