import { definitionHash } from '../../src/audiences/build.js';
import { duckdb } from '../../src/audiences/sql/dialect.js';
import { compileBuildPlan } from '../../src/audiences/sql/plan.js';
import type { AudienceSyncConfig } from '../../src/config-file.js';

/** Each audience's definition hash as the build computes it, with the traits its rules read. */
export function definitionHashes(c: AudienceSyncConfig, day: string): Record<string, string> {
  const plan = compileBuildPlan({
    dialect: duckdb,
    day,
    audiences: c.audiences,
    neverSend: undefined,
    traits: c.traits,
  });
  return Object.fromEntries(
    plan.audiences.map((a) => [
      a.definition.id,
      definitionHash(
        a.definition,
        undefined,
        plan.traits.filter((t) => a.traits.includes(t.name)),
      ),
    ]),
  );
}
