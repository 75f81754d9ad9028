import {
  type AudienceDefinition,
  type Condition,
  type Covariate,
  DEFAULT_LOOKBACK_DAYS,
  FEATURE_KINDS,
} from './config.js';

/** Largest `within_days` in an audience's own `when` and `score`, or the default of 30. */
export function audienceLookback(definition: Pick<AudienceDefinition, 'when' | 'score'>): number {
  let max = 0;
  const visit = (c: Condition) => {
    if ('all' in c) c.all.forEach(visit);
    else if ('any' in c) c.any.forEach(visit);
    else if ('not' in c) visit(c.not);
    else if ('within_days' in c && c.within_days !== undefined) max = Math.max(max, c.within_days);
  };
  visit(definition.when);
  for (const term of definition.score ?? []) {
    for (const kind of FEATURE_KINDS) {
      const w = term[kind]?.within_days;
      if (w !== undefined) max = Math.max(max, w);
    }
  }
  return max > 0 ? max : DEFAULT_LOOKBACK_DAYS;
}

/**
 * Days of raw data `never_send` reads: its longest window, where an event or message condition
 * without `within_days` reads the default 30 (person conditions read no window); 0 when it reads none.
 */
export function neverSendLookback(condition: Condition | undefined): number {
  let max = 0;
  const visit = (c: Condition) => {
    if ('all' in c) c.all.forEach(visit);
    else if ('any' in c) c.any.forEach(visit);
    else if ('not' in c) visit(c.not);
    else if ('event' in c || 'message' in c) max = Math.max(max, c.within_days ?? DEFAULT_LOOKBACK_DAYS);
  };
  if (condition) visit(condition);
  return max;
}

/**
 * Days of raw data before an entry day that `measure.covariates` read: a record term's window
 * (default 30) ends the day BEFORE entry, so it reaches one day further back than an audience
 * window of the same length ending on the entry day. Attribute terms read the people snapshot of
 * that day, not a window of raw data. 0 when there are no record terms.
 */
export function covariateLookback(covariates: readonly Covariate[] | undefined): number {
  let max = 0;
  for (const c of covariates ?? []) {
    if ('attribute' in c) continue;
    for (const kind of FEATURE_KINDS) {
      const f = c[kind];
      if (f) max = Math.max(max, (f.within_days ?? DEFAULT_LOOKBACK_DAYS) + 1);
    }
  }
  return max;
}
