import {
  type AudienceDefinition,
  buildOrder,
  type Condition,
  DEFAULT_LOOKBACK_DAYS,
  FEATURE_KINDS,
  type FeatureKind,
  type FeatureSource,
  type Filters,
  holdoutSalt,
  type WhereFilters,
  whereTraits,
} from '../../src/audiences/config.js';
import { isHoldout } from '../../src/audiences/holdout.js';
import { audienceLookback } from '../../src/audiences/lookback.js';
import { compareRanked, topFractionCount } from '../../src/audiences/select.js';
import { compileFilters, pathGetter, toNumber } from '../../src/audiences/values.js';
import type { AudienceSyncConfig } from '../../src/config-file.js';
import { addDays } from '../../src/contract/days.js';
import { CANONICAL_TIMESTAMP, type MemberRecord } from '../../src/contract/records.js';
import type { SnapshotPerson } from '../../src/people/merge.js';

/**
 * A deliberately naive implementation of the audience language, record by record in plain
 * JavaScript, written from the rules in docs (not from the SQL): the property test runs random
 * configurations and data through both and requires the same members. Slow and simple on purpose.
 */

export interface RawLine {
  key: string;
  line: number;
  record: Record<string, unknown>;
}

const MS_PER_DAY = 86_400_000;
const dayNum = (d: string) => Math.round(Date.parse(`${d}T00:00:00.000Z`) / MS_PER_DAY);

interface Source {
  dataset: 'events' | 'messages';
  event?: string;
  message?: Filters;
  where?: Filters;
  fromDay: string;
}

export function referenceBuild(input: {
  config: Pick<AudienceSyncConfig, 'audiences' | 'never_send'>;
  day: string;
  people: SnapshotPerson[];
  /** Every line of every raw part that exists, in key and line order. */
  events: RawLine[];
  messages: RawLine[];
}): Map<string, MemberRecord[]> {
  const { day, people } = input;
  // Identity.
  const own = new Map<string, string>();
  const merged = new Map<string, string>();
  const emails = new Map<string, string>();
  const cios = new Map<string, string>();
  for (const p of people) {
    own.set(p.customer_id, p.customer_id);
    for (const m of p.merged_ids ?? []) if (!merged.has(m)) merged.set(m, p.customer_id);
    if (p.email && !emails.has(p.email)) emails.set(p.email, p.customer_id);
    if (p.cio_id && !cios.has(p.cio_id)) cios.set(p.cio_id, p.customer_id);
  }
  const ownerOf = (r: Record<string, unknown>): string | undefined => {
    const id = r.customer_id;
    if (typeof id === 'string' && id !== '') return merged.get(id) ?? own.get(id) ?? id;
    const email = typeof r.email === 'string' ? emails.get(r.email.toLowerCase()) : undefined;
    if (email) return email;
    return typeof r.cio_id === 'string' ? cios.get(r.cio_id) : undefined;
  };
  const snapshot = new Map(people.map((p) => [p.customer_id, p]));

  const selectorOf = (s: Source) =>
    s.dataset === 'events'
      ? (r: Record<string, unknown>) => r.name === s.event
      : (compileFilters(s.message ?? {}, pathGetter) as (r: Record<string, unknown>) => boolean);

  // Every source any rule names, then per-person aggregates from the de-duplicated records.
  const sources: Source[] = [];
  const sourceOf = (
    spec: { event?: string; message?: Filters; where?: WhereFilters },
    windowDays: number,
  ) => {
    if (whereTraits(spec.where).size > 0)
      throw new Error('the reference model does not evaluate traits (test/audiences/traits.test.ts does)');
    const s: Source = {
      dataset: spec.event !== undefined ? 'events' : 'messages',
      ...(spec.event !== undefined ? { event: spec.event } : {}),
      ...(spec.message !== undefined ? { message: spec.message } : {}),
      ...(spec.where ? { where: spec.where as Filters } : {}),
      fromDay: addDays(day, 1 - windowDays),
    };
    sources.push(s);
    return s;
  };
  interface Agg {
    count: Map<string, number>;
    latest: Map<string, string>;
    values: Map<string, Map<string, number[]>>;
  }
  const aggs = new Map<Source, Agg>();
  const collect = (s: Source) => {
    const existing = aggs.get(s);
    if (existing) return existing;
    const agg: Agg = { count: new Map(), latest: new Map(), values: new Map() };
    aggs.set(s, agg);
    return agg;
  };

  type Evaluate = (id: string) => boolean;
  const condition = (c: Condition, lookback: number, mine: Source[]): Evaluate => {
    if ('all' in c) {
      const parts = c.all.map((x) => condition(x, lookback, mine));
      return (id) => parts.every((p) => p(id));
    }
    if ('any' in c) {
      const parts = c.any.map((x) => condition(x, lookback, mine));
      return (id) => parts.some((p) => p(id));
    }
    if ('not' in c) {
      const inner = condition(c.not, lookback, mine);
      return (id) => !inner(id);
    }
    if ('person' in c) {
      const test = compileFilters(c.person, (field) =>
        field === 'unsubscribed' || field === 'deleted'
          ? (root: unknown) => (root as Record<string, unknown> | undefined)?.[field] === true
          : pathGetter(field),
      );
      return (id) => test(snapshot.get(id));
    }
    if ('trait' in c)
      throw new Error('the reference model does not evaluate traits (test/audiences/traits.test.ts does)');
    const s = sourceOf(c, c.within_days ?? lookback);
    mine.push(s);
    const agg = collect(s);
    return (id) => (agg.count.get(id) ?? 0) >= c.min_count;
  };
  const feature = (kind: FeatureKind, f: FeatureSource, lookback: number, mine: Source[]) => {
    const s = sourceOf(f, f.within_days ?? lookback);
    mine.push(s);
    const agg = collect(s);
    return (id: string): number => {
      if (kind === 'count') return agg.count.get(id) ?? 0;
      if (kind === 'days_since') {
        const last = agg.latest.get(id);
        return last === undefined ? lookback + 1 : dayNum(day) - dayNum(last);
      }
      const values = agg.values.get(f.property!)?.get(id) ?? [];
      if (values.length === 0) return 0;
      if (kind === 'sum') return values.reduce((a, b) => a + b, 0);
      return kind === 'max' ? Math.max(...values) : Math.min(...values);
    };
  };

  const definitions = buildOrder(input.config.audiences);
  const neverSendSources: Source[] = [];
  const neverSend = input.config.never_send
    ? condition(input.config.never_send, DEFAULT_LOOKBACK_DAYS, neverSendSources)
    : () => false;
  const compiled = definitions.map((definition: AudienceDefinition) => {
    const lookback = audienceLookback(definition);
    const mine: Source[] = [];
    const when = condition(definition.when, lookback, mine);
    const terms = (definition.score ?? []).map((term) => {
      const kind = FEATURE_KINDS.find((k) => term[k] !== undefined)!;
      return { weight: term.weight, read: feature(kind, term[kind]!, lookback, mine) };
    });
    return { definition, when, terms, mine };
  });

  // Fill the aggregates, dataset by dataset.
  for (const dataset of ['events', 'messages'] as const) {
    const list = sources.filter((s) => s.dataset === dataset);
    if (list.length === 0) continue;
    const from = list.map((s) => s.fromDay).sort()[0]!;
    const lines = (dataset === 'events' ? input.events : input.messages).filter((l) => {
      const dt = /dt=(\d{4}-\d{2}-\d{2})\//.exec(l.key)![1]!;
      return dt >= from && dt <= day;
    });
    const selectors = list.map((s) => ({ s, test: selectorOf(s) }));
    const winners = new Map<
      string,
      { recv: number; key: string; line: number; r: Record<string, unknown> }
    >();
    for (const { key, line, record: r } of lines) {
      if (typeof r.id !== 'string' || r.id === '') continue;
      if (typeof r.ts !== 'string' || !CANONICAL_TIMESTAMP.test(r.ts)) continue;
      if (
        dataset === 'events'
          ? typeof r.name !== 'string' || r.name === ''
          : typeof r.channel !== 'string' || typeof r.metric !== 'string'
      )
        continue;
      if (!selectors.some((x) => x.test(r))) continue;
      const parsed = typeof r.received_at === 'string' ? Date.parse(r.received_at) : Number.NaN;
      const recv = Number.isFinite(parsed) ? parsed : Number.POSITIVE_INFINITY;
      const held = winners.get(r.id);
      if (!held || recv < held.recv) winners.set(r.id, { recv, key, line, r });
    }
    for (const { r } of winners.values()) {
      const owner = ownerOf(r);
      if (owner === undefined) continue;
      const d = (r.ts as string).slice(0, 10);
      if (d > day) continue;
      for (const { s, test } of selectors) {
        if (d < s.fromDay || !test(r)) continue;
        if (s.where && !compileFilters(s.where, pathGetter)(dataset === 'events' ? r.properties : r))
          continue;
        const agg = collect(s);
        agg.count.set(owner, (agg.count.get(owner) ?? 0) + 1);
        if ((agg.latest.get(owner) ?? '') < d) agg.latest.set(owner, d);
        for (const c of compiled) {
          for (const term of c.definition.score ?? []) {
            for (const kind of FEATURE_KINDS) {
              const f = term[kind];
              if (!f?.property) continue;
              const v = toNumber(pathGetter(f.property)(r.properties));
              if (v === undefined) continue;
              // Values are collected once per (source, property): a map per property.
              const byProp = agg.values.get(f.property) ?? new Map<string, number[]>();
              agg.values.set(f.property, byProp);
              const list2 = byProp.get(owner) ?? [];
              byProp.set(owner, list2);
              if (!seen(agg, f.property, owner, r.id as string)) list2.push(v);
            }
          }
        }
      }
    }
  }

  const everyone = new Set<string>(people.map((p) => p.customer_id));
  for (const agg of aggs.values()) for (const id of agg.count.keys()) everyone.add(id);
  const out = new Map<string, MemberRecord[]>();
  for (const c of compiled) {
    const def = c.definition;
    const eligible: { id: string; score: number }[] = [];
    for (const id of everyone) {
      const known = snapshot.has(id) || c.mine.some((s) => (aggs.get(s)?.count.get(id) ?? 0) > 0);
      if (!known || !c.when(id)) continue;
      if (neverSend(id)) continue;
      if (def.exclude.some((x) => out.get(x)!.some((m) => m.customer_id === id))) continue;
      let score = 0;
      if (def.type === 'top_fraction') for (const t of c.terms) score += t.weight * t.read(id);
      eligible.push({ id, score });
    }
    eligible.sort((a, b) => compareRanked(a.score, a.id, b.score, b.id));
    const k =
      def.type === 'top_fraction' ? topFractionCount(def.top_fraction!, eligible.length) : eligible.length;
    const fraction = def.type === 'top_fraction' ? (def.holdout?.fraction ?? 0) : 0;
    out.set(
      def.id,
      eligible.slice(0, k).map((e, i) => ({
        customer_id: e.id,
        group: isHoldout(holdoutSalt(def), e.id, fraction) ? 'holdout' : 'treatment',
        score: e.score,
        rank: i + 1,
        entered: day,
      })),
    );
  }
  return out;
}

/** A record's value is collected once per source, property and record id (several terms may name it). */
const collected = new WeakMap<object, Set<string>>();
function seen(agg: object, property: string, owner: string, id: string): boolean {
  const set = collected.get(agg) ?? new Set<string>();
  collected.set(agg, set);
  const k = `${property}\n${owner}\n${id}`;
  if (set.has(k)) return true;
  set.add(k);
  return false;
}
