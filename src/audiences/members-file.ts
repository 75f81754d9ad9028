import { sqlString } from '../engine/duckdb.js';
import type { AudienceSql } from './sql/plan.js';

/**
 * The lines of an audience's members file (`audiences/<id>/dt=D/members.jsonl.gz`, docs/audiences.md)
 * as one query over its members table, in rank order, for the engine's JSON writer: one object per
 * member with `customer_id`, `group`, `score` (0 for a segment), `rank`, `entered` and, when the
 * audience writes traits back, `traits` (one key per trait, null where the person has no value).
 * The engine writes doubles exactly (shortest round trip), as JSON.stringify does.
 */
export function membersFileSelect(audience: AudienceSql): string {
  const score = audience.definition.type === 'top_fraction' ? 'score' : 'CAST(0 AS DOUBLE)';
  const traits =
    audience.writeBack.length === 0
      ? ''
      : `, {${audience.writeBack.map((t) => `${sqlString(t.name)}: ${t.column}`).join(', ')}} AS traits`;
  return `SELECT customer_id, "group", ${score} AS score, rank, entered${traits}
FROM ${audience.table}
ORDER BY rank`;
}
