import { audienceScoreTables, resolveScoreTable, ScoreTableError } from '../../audiences/score-tables.js';
import type { CheckContext } from '../context.js';
import { type Finding, findingId } from '../findings.js';

/**
 * A score table that audiences depend on has no complete partition, or only one older than its
 * `max_age_days`, for the last complete day: the build refuses those audiences (it never uses old
 * scores), so this is critical. One finding per table, naming the audiences it holds back.
 */
export async function checkScoreTables(ctx: CheckContext): Promise<Finding[]> {
  const tables = ctx.config.score_tables ?? {};
  const dependents = new Map<string, string[]>();
  for (const a of ctx.config.audiences)
    for (const table of audienceScoreTables(ctx.config, a.id))
      dependents.set(table, [...(dependents.get(table) ?? []), a.id]);
  const findings: Finding[] = [];
  for (const [table, audiences] of [...dependents].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const def = tables[table];
    if (!def) continue;
    try {
      await resolveScoreTable(ctx.store, table, def, ctx.day);
    } catch (error) {
      if (!(error instanceof ScoreTableError)) throw error;
      findings.push({
        id: findingId('score_table_stale', table),
        severity: 'critical',
        kind: 'score_table_stale',
        subject: { dataset: `score_tables.${table}` },
        message: `${error.message}: the build of ${ctx.day} fails for ${audiences.join(', ')}`,
        details: { table, reason: error.reason, day: ctx.day, audiences: audiences.length },
      });
    }
  }
  return findings;
}
