import {
  type AudienceDefinition,
  type Covariate,
  DEFAULT_LOOKBACK_DAYS,
  FEATURE_KINDS,
  type FeatureSource,
} from '../audiences/config.js';
import { openBuildSession } from '../audiences/session.js';
import { duckdb } from '../audiences/sql/dialect.js';
import { compileBuildPlan, personValue } from '../audiences/sql/plan.js';
import { numberOf } from '../audiences/sql/values.js';
import { addDays } from '../contract/days.js';
import { sqlStringList } from '../engine/duckdb.js';
import { updatePeopleSnapshot } from '../people/snapshot.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { statObject } from '../storage/object-store.js';
import type { CohortMember } from './cohort.js';

/**
 * `measure.covariates` evaluated for each cohort member as of the end of the day BEFORE their
 * entry day, so nothing the audience (or its ads) did can have moved them. Record terms compile
 * through the audience engine exactly like `score` terms (same identity resolution,
 * de-duplication, windows ending on the evaluation day); `attribute` terms read a number from the
 * people snapshot of that day. One engine session per distinct entry day.
 */

/** A readable name for a covariate: `count(checkout_started, 30d)`, `attributes.ltv`. */
export function covariateLabel(c: Covariate): string {
  if ('attribute' in c) return c.attribute;
  const kind = FEATURE_KINDS.find((k) => c[k] !== undefined)!;
  const f = c[kind]!;
  const source = 'event' in f ? f.event : `message ${JSON.stringify(f.message)}`;
  const property = f.property ? `.${f.property}` : '';
  const where = f.where ? ` where ${JSON.stringify(f.where)}` : '';
  return `${kind}(${source}${property}${where}, ${f.within_days ?? DEFAULT_LOOKBACK_DAYS}d)`;
}

/** Cohort members per covariate vector, in `covariates` order. */
export async function readCovariates(
  store: ObjectStore,
  covariates: readonly Covariate[],
  members: ReadonlyMap<string, CohortMember>,
): Promise<Map<string, number[]>> {
  const byDay = new Map<string, string[]>();
  for (const [id, m] of members) {
    const list = byDay.get(m.entered) ?? [];
    list.push(id);
    byDay.set(m.entered, list);
  }
  const out = new Map<string, number[]>();
  for (const entered of [...byDay.keys()].sort()) {
    const values = await evaluateOn(store, covariates, addDays(entered, -1), byDay.get(entered)!);
    for (const [id, v] of values) out.set(id, v);
  }
  return out;
}

async function evaluateOn(
  store: ObjectStore,
  covariates: readonly Covariate[],
  day: string,
  ids: readonly string[],
): Promise<Map<string, number[]>> {
  // The identity (and attribute) snapshot of the evaluation day itself: never a later one.
  if (!(await statObject(store, keys.peopleSnapshot(day)).catch(() => undefined))) {
    await updatePeopleSnapshot({ store, day });
  }
  const score = covariates.flatMap((c) => {
    if ('attribute' in c) return [];
    const kind = FEATURE_KINDS.find((k) => c[k] !== undefined)!;
    const f: FeatureSource = { ...c[kind]!, within_days: c[kind]!.within_days ?? DEFAULT_LOOKBACK_DAYS };
    return [{ weight: 1, [kind]: f }];
  });
  const definition = {
    id: 'measure_covariates',
    type: 'top_fraction',
    when: { not: { person: { deleted: true } } },
    exclude: [],
    score,
    top_fraction: 1,
    sync: [],
    realtime_additions: false,
  } as unknown as AudienceDefinition;
  const plan = compileBuildPlan({ dialect: duckdb, day, audiences: [definition], neverSend: undefined });
  const terms = plan.audiences[0]!.terms;
  const pv = personValue(duckdb);
  let t = 0;
  const columns = covariates.map((c, i) =>
    'attribute' in c ? `${numberOf(duckdb, pv(c.attribute))} AS c${i}` : `${terms[t++]!.sql} AS c${i}`,
  );
  const session = await openBuildSession({ store, plan });
  try {
    const out = new Map<string, number[]>();
    for (let start = 0; start < ids.length; start += 5000) {
      const chunk = ids.slice(start, start + 5000);
      const rows = await session.engine.all(
        `SELECT k.id AS customer_id, ${columns.join(', ')}
FROM (SELECT unnest(${sqlStringList(chunk)}) AS id) k
LEFT JOIN features f ON f.customer_id = k.id
LEFT JOIN people_snapshot p ON p.customer_id = k.id`,
      );
      for (const row of rows) {
        // Nobody seen before entry: no records (counts and sums 0) and no attribute (0).
        out.set(
          row.customer_id as string,
          covariates.map((_, i) => {
            const v = row[`c${i}`];
            const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : null;
            return n === null || !Number.isFinite(n) ? 0 : n;
          }),
        );
      }
    }
    return out;
  } finally {
    await session.close();
  }
}
