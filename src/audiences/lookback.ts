import { type AudienceDefinition, type Condition, DEFAULT_LOOKBACK_DAYS, FEATURE_KINDS } from './config.js';

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
