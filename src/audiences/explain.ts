import type { DuckDBValue } from '@duckdb/node-api';
import { addDays, today } from '../contract/days.js';
import type { EngineSettings } from '../engine/duckdb.js';
import type { CacheOptions } from '../engine/local-files.js';
import { updatePeopleSnapshot } from '../people/snapshot.js';
import type { ObjectStore } from '../storage/object-store.js';
import {
  type AudienceRules,
  type FeatureKind,
  type Filters,
  type ValueMatch,
  type WhereFilters,
  type WhereMatch,
  whereTraits,
  withDependencies,
} from './config.js';
import { latestBuiltDay } from './members.js';
import { type BuildSession, openRulesSession } from './session.js';
import { duckdb } from './sql/dialect.js';
import {
  type AudienceSql,
  audienceCountsSql,
  type BuildPlan,
  type ConditionNode,
  col,
  type PersonAtom,
  personGetter,
  personValue,
  readJoins,
  type SqlSource,
} from './sql/plan.js';
import { filtersSql } from './sql/values.js';
import { matchValue } from './values.js';

/**
 * Why a person is (or is not) in an audience on day D: the build's own SQL (sql/plan.ts), run over
 * the same inputs in a build session (session.ts), then every node of every condition tree
 * evaluated again for that person's `features` row. Nothing is read from the audience snapshots:
 * the answer is recomputed from the raw data of the day, so it holds for a day that was never built
 * and agrees with `buildAudiences` for one that was.
 *
 * Personal data never appears in an explanation: for `email`, `phone`, names, `city`,
 * `postal_code`, `maid` (and attributes named like them) a person condition shows only whether the
 * field is present and whether it matched — neither the person's value nor the rule's (which would
 * give the value away when it matched).
 */

export interface ExplainOptions {
  store: ObjectStore;
  config: AudienceRules;
  /** The id to explain: a customer id, or an id merged into one (an alias). */
  customerId: string;
  /** Explain this audience (and those it excludes); default: every audience. */
  audienceId?: string;
  /** Default: `defaultExplainDay`. */
  day?: string;
  /** Bring the people snapshot of the day up to date first, as the build does (default true). */
  updateSnapshot?: boolean;
  engine?: EngineSettings;
  cache?: CacheOptions;
}

export interface SourceExplanation {
  dataset: 'events' | 'messages';
  event?: string;
  /** The message selector (values of personal fields shown as `[redacted]`). */
  message?: Record<string, unknown>;
  where?: Record<string, unknown>;
  window: { days: number; from: string; to: string };
}

export interface PersonFieldExplanation {
  field: string;
  matched: boolean;
  present: boolean;
  /** A personal field: neither the value nor the rule's test is shown. */
  personal?: true;
  /** The rule's test (absent for personal fields). */
  test?: ValueMatch;
  /** The person's value, null when missing (absent for personal fields). */
  value?: unknown;
}

export type ExplainNode =
  | { kind: 'all' | 'any'; matched: boolean; parts: ExplainNode[] }
  | { kind: 'not'; matched: boolean; part: ExplainNode }
  | { kind: 'person'; matched: boolean; fields: PersonFieldExplanation[] }
  | {
      kind: 'trait';
      matched: boolean;
      trait: string;
      /** The person's value (null when missing), unless it looks like contact data. */
      value?: unknown;
      personal?: true;
      test: ValueMatch;
    }
  | {
      kind: 'records';
      matched: boolean;
      source: SourceExplanation;
      /** Distinct records of the person in the window that pass `where`. */
      count: number;
      min_count: number;
      /**
       * The person's values of the traits its `where` compares records with (null: missing, and
       * every test against it fails; values that look like contact data: `[redacted]`).
       */
      trait_values?: Record<string, unknown>;
    };

export interface ScoreTermExplanation {
  kind: FeatureKind | 'trait';
  weight: number;
  /** The feature's source (absent for a trait term). */
  source?: SourceExplanation;
  /** A trait term's trait. */
  trait?: string;
  property?: string;
  /** The feature value (days_since without a record: the lookback + 1). */
  value: number;
  /** weight × value. */
  contribution: number;
}

export interface AudienceExplanation {
  id: string;
  type: 'segment' | 'top_fraction';
  /** False for an audience explained only because a requested one excludes it. */
  requested: boolean;
  /** In the audience's universe: the people snapshot, or a record in one of its own sources. */
  in_universe: boolean;
  condition: ExplainNode;
  /** In the universe and `when` holds. */
  matched: boolean;
  /** Removed by `never_send`. */
  never_send: boolean;
  /** Removed as a member of these `exclude` audiences. */
  excluded_by: string[];
  /** Matched and not removed. */
  eligible: boolean;
  /** The traits its `when` and `score` read, with the person's values (null: missing). */
  traits: Record<string, unknown>;
  /** top_fraction only: the score and its terms, in order. */
  score: { value: number; terms: ScoreTermExplanation[] } | null;
  selection: {
    eligible: number;
    selected: number;
    top_fraction: number | null;
    /** Score of the last selected member (top_fraction with members only). */
    cut_score: number | null;
  };
  selected: boolean;
  /** The member line the build writes for this person (score 0 for segments). */
  member: { rank: number; score: number; group: 'treatment' | 'holdout'; entered: string } | null;
  holdout: { fraction: number } | null;
}

export interface Explanation {
  day: string;
  /** The person explained (the owner when `requested_id` is an alias). */
  customer_id: string;
  /** The id asked for, when it was an alias of `customer_id`. */
  requested_id?: string;
  in_snapshot: boolean;
  never_send: { matched: boolean; condition: ExplainNode } | null;
  /** In build order. */
  audiences: AudienceExplanation[];
}

/** The person is neither in the people snapshot of the day nor the owner of any record read. */
export class PersonNotFoundError extends Error {
  override readonly name = 'PersonNotFoundError';
  constructor(
    readonly customerId: string,
    readonly day: string,
  ) {
    super(`customer "${displayId(customerId)}" is not in the people snapshot of ${day}`);
  }
}

/** The day explained when none is given: the latest built day of the audiences, else yesterday. */
async function defaultExplainDay(
  store: ObjectStore,
  config: Pick<AudienceRules, 'audiences'>,
  audienceId?: string,
): Promise<string> {
  const ids = audienceId ? [audienceId] : config.audiences.map((a) => a.id);
  let latest: string | undefined;
  for (const id of ids) {
    const d = await latestBuiltDay(store, id);
    if (d && (!latest || d > latest)) latest = d;
  }
  return latest ?? addDays(today(), -1);
}

export async function explainPerson(options: ExplainOptions): Promise<Explanation> {
  const { store, config } = options;
  // Unknown audience ids fail here (ConfigError), before anything is read.
  if (options.audienceId) withDependencies(config.audiences, [options.audienceId]);
  const day = options.day ?? (await defaultExplainDay(store, config, options.audienceId));
  if (options.updateSnapshot !== false) await updatePeopleSnapshot({ store, day });
  const session = await openRulesSession({
    store,
    config,
    day,
    audienceIds: options.audienceId ? [options.audienceId] : undefined,
    // What the day's build cached is read (the same plan when no audience is named); never written.
    relevantCache: 'read',
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.cache ? { cache: options.cache } : {}),
  });
  const { plan } = session;
  try {
    const customerId = await resolveOwner(session, options.customerId);
    const features = await one(session, `SELECT * FROM features WHERE customer_id = $id`, customerId);
    if (!features) throw new PersonNotFoundError(options.customerId, day);
    // The columns of sources whose `where` reads traits are in the stage tables, a row per person.
    for (let k = 1; k <= plan.stages; k++) {
      const { customer_id: _id, ...stage } =
        (await one(session, `SELECT * FROM features_${k} WHERE customer_id = $id`, customerId)) ?? {};
      Object.assign(features, stage);
    }

    // Every audience, in build order, exactly as the build runs them.
    const tables = new Map<string, string>();
    for (const audience of plan.audiences) {
      await session.runAudience(audience, tables);
      tables.set(audience.definition.id, audience.table);
    }

    const person = new PersonView(session, customerId, features);
    await person.load(plan);
    const blocked =
      (await one(session, `SELECT 1 AS x FROM blocked WHERE customer_id = $id`, customerId)) !== undefined;
    const audiences: AudienceExplanation[] = [];
    for (const audience of plan.audiences)
      audiences.push(
        await explainAudience(session, person, audience, tables, {
          requested: !options.audienceId || audience.definition.id === options.audienceId,
          blocked,
        }),
      );
    // Requested audiences first, then the ones they exclude (as the build reports them).
    audiences.sort((a, b) => Number(b.requested) - Number(a.requested));

    return {
      day,
      customer_id: customerId,
      ...(customerId !== options.customerId ? { requested_id: options.customerId } : {}),
      in_snapshot: features.in_snapshot === true,
      never_send: plan.neverSend
        ? { matched: blocked, condition: await person.explain(plan.neverSend) }
        : null,
      audiences,
    };
  } finally {
    await session.close();
  }
}

// --- evaluation -----------------------------------------------------------------------------------

type Row = Record<string, unknown>;

async function one(session: BuildSession, sql: string, id: string): Promise<Row | undefined> {
  const rows = await session.engine.all(sql, { id } as Record<string, DuckDBValue>);
  return rows[0];
}

/** Who `id` counts for (plan.ts rule 1): the person it was merged into, else itself. */
async function resolveOwner(session: BuildSession, id: string): Promise<string> {
  const row = await one(session, `SELECT owner FROM id_map WHERE id = $id`, id);
  return typeof row?.owner === 'string' ? row.owner : id;
}

/** One person's `features` row and snapshot line, and condition trees evaluated over them. */
class PersonView {
  private profile: Record<string, unknown> | undefined;
  /** Per person atom: each field's test, evaluated alone. */
  private readonly fieldMatches = new Map<string, boolean[]>();

  constructor(
    private readonly session: BuildSession,
    readonly customerId: string,
    readonly features: Row,
  ) {}

  async load(plan: BuildPlan): Promise<void> {
    const row = await one(
      this.session,
      `SELECT person FROM people_snapshot WHERE customer_id = $id`,
      this.customerId,
    );
    if (typeof row?.person === 'string') this.profile = JSON.parse(row.person) as Record<string, unknown>;
    if (plan.atoms.length === 0) return;
    if (!this.profile) {
      // Not in the snapshot: the atoms hold their value for people without a profile.
      for (const atom of plan.atoms)
        this.fieldMatches.set(
          atom.column,
          Object.entries(atom.filters).map(([field, match]) => matchValue(emptyValue(field), match)),
        );
      return;
    }
    const columns: string[] = [];
    for (const atom of plan.atoms)
      Object.entries(atom.filters).forEach(([field, match], j) => {
        columns.push(`${filtersSql(duckdb, { [field]: match }, personField)} AS ${atom.column}_${j}`);
      });
    const matched = (await one(
      this.session,
      `SELECT ${columns.join(', ')} FROM people_snapshot p WHERE p.customer_id = $id`,
      this.customerId,
    ))!;
    for (const atom of plan.atoms)
      this.fieldMatches.set(
        atom.column,
        Object.keys(atom.filters).map((_, j) => matched[`${atom.column}_${j}`] === true),
      );
  }

  /** Evaluates every node's SQL over the person's `features` row. */
  async explain(root: ConditionNode): Promise<ExplainNode> {
    const nodes: ConditionNode[] = [];
    const walk = (n: ConditionNode) => {
      nodes.push(n);
      if (n.kind === 'all' || n.kind === 'any') n.parts.forEach(walk);
      else if (n.kind === 'not') walk(n.part);
    };
    walk(root);
    const row = (await one(
      this.session,
      `SELECT ${nodes.map((n, i) => `${n.sql} AS n${i}`).join(', ')} FROM features f ${traitsJoin(this.session.plan)} WHERE f.customer_id = $id`,
      this.customerId,
    ))!;
    const values = await this.traitValues(
      nodes.flatMap((n) =>
        n.kind === 'trait' ? [n.trait] : n.kind === 'records' ? [...whereTraits(n.source.where)] : [],
      ),
    );
    const matched = new Map(nodes.map((n, i) => [n, row[`n${i}`] === true]));
    const build = (n: ConditionNode): ExplainNode => {
      const m = matched.get(n)!;
      switch (n.kind) {
        case 'all':
        case 'any':
          return { kind: n.kind, matched: m, parts: n.parts.map(build) };
        case 'not':
          return { kind: 'not', matched: m, part: build(n.part) };
        case 'person':
          return { kind: 'person', matched: m, fields: this.personFields(n.atom) };
        case 'trait': {
          const value = values[n.trait] ?? null;
          return looksLikeContact(value)
            ? { kind: 'trait', matched: m, trait: n.trait, personal: true, test: n.test }
            : { kind: 'trait', matched: m, trait: n.trait, value, test: n.test };
        }
        case 'records': {
          const read = [...whereTraits(n.source.where)];
          return {
            kind: 'records',
            matched: m,
            source: describeSource(n.source, this.session.plan.day),
            count: Number(this.features[col.count(n.source)] ?? 0),
            min_count: n.minCount,
            ...(read.length > 0
              ? { trait_values: Object.fromEntries(read.map((name) => [name, values[name] ?? null])) }
              : {}),
          };
        }
      }
    };
    return build(root);
  }

  /** The person's values of traits (null when missing; contact-like values redacted). */
  async traitValues(names: readonly string[]): Promise<Record<string, unknown>> {
    const unique = [...new Set(names)];
    if (unique.length === 0) return {};
    const traits = this.session.plan.traits.filter((t) => unique.includes(t.name));
    const row = await one(
      this.session,
      `SELECT ${traits.map((t) => t.column).join(', ')} FROM traits WHERE customer_id = $id`,
      this.customerId,
    );
    return Object.fromEntries(
      traits.map((t) => {
        const v = row?.[t.column] ?? null;
        return [t.name, looksLikeContact(v) ? '[redacted]' : v];
      }),
    );
  }

  private personFields(atom: PersonAtom): PersonFieldExplanation[] {
    const matches = this.fieldMatches.get(atom.column) ?? [];
    return Object.entries(atom.filters).map(([field, test], j) => {
      const value = this.profile ? personGetter(field)(this.profile) : emptyValue(field);
      const present = value !== undefined && value !== null;
      const matched = matches[j] ?? false;
      if (isPersonalField(field) || looksLikeContact(value) || looksLikeContactTest(test))
        return { field, matched, present, personal: true };
      return { field, matched, present, test, value: value ?? null };
    });
  }
}

async function explainAudience(
  session: BuildSession,
  person: PersonView,
  audience: AudienceSql,
  tables: ReadonlyMap<string, string>,
  context: { requested: boolean; blocked: boolean },
): Promise<AudienceExplanation> {
  const def = audience.definition;
  const t = audience.table;
  const id = person.customerId;
  const isTop = def.type === 'top_fraction';
  const condition = await person.explain(audience.condition);
  const scored = await one(session, `SELECT matched FROM ${t}_scored WHERE customer_id = $id`, id);
  const inUniverse = scored !== undefined;
  const matched = inUniverse && scored.matched === true;
  const excludedBy: string[] = [];
  for (const other of def.exclude) {
    const hit = await one(session, `SELECT 1 AS x FROM ${tables.get(other)!} WHERE customer_id = $id`, id);
    if (hit) excludedBy.push(other);
  }

  let score: AudienceExplanation['score'] = null;
  if (isTop) {
    const values = (await one(
      session,
      `SELECT ${[audience.score, ...audience.terms.map((term) => term.sql)].map((s, i) => `${s} AS v${i}`).join(', ')}
       FROM features f ${traitsJoin(session.plan)} WHERE f.customer_id = $id`,
      id,
    ))!;
    score = {
      value: Number(values.v0),
      terms: audience.terms.map((term, i) => {
        const value = Number(values[`v${i + 1}`]);
        return {
          kind: term.kind,
          weight: term.weight,
          ...(term.source ? { source: describeSource(term.source, session.plan.day) } : {}),
          ...(term.trait !== undefined ? { trait: term.trait } : {}),
          ...(term.property !== undefined ? { property: term.property } : {}),
          value,
          contribution: term.weight * value,
        };
      }),
    };
  }

  const [counts] = await session.engine.all(audienceCountsSql(audience));
  const selected = Number(counts?.selected ?? 0);
  const memberRow = await one(
    session,
    `SELECT "group", score, rank, entered FROM ${t} WHERE customer_id = $id`,
    id,
  );
  const member = memberRow
    ? {
        rank: Number(memberRow.rank),
        score: isTop ? Number(memberRow.score) : 0,
        group: memberRow.group as 'treatment' | 'holdout',
        entered: String(memberRow.entered),
      }
    : null;
  return {
    id: def.id,
    type: def.type,
    requested: context.requested,
    in_universe: inUniverse,
    condition,
    matched,
    never_send: context.blocked,
    excluded_by: excludedBy,
    eligible: matched && !context.blocked && excludedBy.length === 0,
    traits: await person.traitValues(audience.traits),
    score,
    selection: {
      eligible: Number(counts?.eligible ?? 0),
      selected,
      top_fraction: isTop ? def.top_fraction! : null,
      cut_score: isTop && selected > 0 ? Number(counts?.cutoff) : null,
    },
    selected: member !== null,
    member,
    holdout: isTop && audience.holdout.fraction > 0 ? { fraction: audience.holdout.fraction } : null,
  };
}

/** What a condition or score term may read besides `features f`: traits, and the stage tables. */
function traitsJoin(plan: BuildPlan): string {
  return readJoins(plan).join('\n');
}

// --- person values (plan.ts reads them the same way) ------------------------------------------------

const personField = personValue(duckdb);

/** A field's value for someone without a profile. */
function emptyValue(field: string): unknown {
  return personGetter(field)(undefined);
}

// --- what is shown ------------------------------------------------------------------------------

const PERSONAL_FIELDS = new Set([
  'email',
  'phone',
  'first_name',
  'last_name',
  'city',
  'postal_code',
  'maid',
  'name',
  'full_name',
  'phone_number',
  'mobile',
  'zip',
  'zip_code',
  'postcode',
  'address',
  'street',
]);

/** A field (or property path) holding personal data: by name, or the last segment of its path. */
function isPersonalField(field: string): boolean {
  const last = (field.split('.').at(-1) ?? field).toLowerCase();
  return PERSONAL_FIELDS.has(field) || PERSONAL_FIELDS.has(last) || /email|phone/.test(last);
}

const EMAIL_LIKE = /[^\s@]+@[^\s@]+/;
const PHONE_LIKE = /^\+?[0-9][0-9 ().-]{6,}$/;

/** A value that reads like an email address or a phone number, whatever its field is called. */
function looksLikeContact(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  return EMAIL_LIKE.test(value) || (value.startsWith('+') && PHONE_LIKE.test(value));
}

function looksLikeContactTest(test: ValueMatch | WhereMatch): boolean {
  if (test === null || typeof test !== 'object') return looksLikeContact(test);
  return Object.values(test).some((v) => (Array.isArray(v) ? v.some(looksLikeContact) : looksLikeContact(v)));
}

/** An id as messages may show it: customer ids are, but an email or phone given as one is not. */
function displayId(id: string): string {
  if (EMAIL_LIKE.test(id)) return '[an email address]';
  if (id.startsWith('+') && PHONE_LIKE.test(id)) return '[a phone number]';
  return id;
}

function redactFilters(filters: Filters | WhereFilters): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, match] of Object.entries(filters))
    out[field] = isPersonalField(field) || looksLikeContactTest(match) ? '[redacted]' : match;
  return out;
}

function describeSource(source: SqlSource, day: string): SourceExplanation {
  return {
    dataset: source.dataset,
    ...(source.event !== undefined ? { event: source.event } : {}),
    ...(source.message !== undefined ? { message: redactFilters(source.message) } : {}),
    ...(source.where ? { where: redactFilters(source.where) } : {}),
    window: { days: source.windowDays, from: source.fromDay, to: day },
  };
}

// --- text -----------------------------------------------------------------------------------------

/** The explanation as an indented tree for a terminal. */
export function formatExplanation(e: Explanation): string[] {
  const lines: string[] = [];
  const alias = e.requested_id ? ` (alias ${e.requested_id})` : '';
  lines.push(
    `customer ${e.customer_id}${alias} on ${e.day}: ${e.in_snapshot ? 'in the people snapshot' : 'not in the people snapshot (records only)'}`,
  );
  if (e.never_send) {
    lines.push(`never_send: ${e.never_send.matched ? 'BLOCKED' : 'not blocked'}`);
    lines.push(...formatNode(e.never_send.condition, '  '));
  } else {
    lines.push('never_send: no rule');
  }
  for (const a of e.audiences) {
    lines.push('');
    const head = `audience ${a.id} (${a.type})${a.requested ? '' : ' [excluded by a requested audience]'}`;
    let verdict: string;
    if (a.member) {
      verdict = `SELECTED rank ${a.member.rank} of ${a.selection.selected}, group ${a.member.group}, entered ${a.member.entered}`;
    } else if (!a.in_universe)
      verdict = 'not selected: outside the universe (not in the snapshot, no own records)';
    else if (!a.matched) verdict = 'not selected: the condition does not hold';
    else if (!a.eligible) {
      const why = [...(a.never_send ? ['never_send'] : []), ...a.excluded_by.map((x) => `audience ${x}`)];
      verdict = `not selected: removed by ${why.join(', ')}`;
    } else verdict = 'not selected: below the cut';
    lines.push(`${head}: ${verdict}`);
    lines.push(`  when: ${a.condition.matched ? 'holds' : 'does not hold'}`);
    lines.push(...formatNode(a.condition, '    '));
    lines.push(
      `  never_send: ${a.never_send ? 'yes' : 'no'}; excluded by: ${a.excluded_by.length > 0 ? a.excluded_by.join(', ') : 'none'}`,
    );
    for (const [name, value] of Object.entries(a.traits))
      lines.push(`  trait ${name} = ${value === null ? 'missing' : JSON.stringify(value)}`);
    if (a.score) {
      lines.push(`  score ${fmt(a.score.value)}:`);
      for (const term of a.score.terms) {
        const what = term.source
          ? `${term.kind}(${sourceText(term.source)}${term.property ? `, ${term.property}` : ''})`
          : `trait ${term.trait}`;
        lines.push(
          `    ${fmt(term.weight)} × ${what} = ${fmt(term.weight)} × ${fmt(term.value)} = ${fmt(term.contribution)}`,
        );
      }
      const s = a.selection;
      lines.push(
        `  cut: top ${fmt(s.top_fraction ?? 1)} of ${s.eligible} eligible = ${s.selected} selected` +
          (s.cut_score !== null ? `, cut score ${fmt(s.cut_score)}` : ''),
      );
    } else {
      lines.push(`  members: ${a.selection.selected} of ${a.selection.eligible} eligible`);
    }
    if (a.holdout) lines.push(`  holdout fraction ${fmt(a.holdout.fraction)}`);
  }
  return lines;
}

function formatNode(n: ExplainNode, indent: string): string[] {
  const mark = n.matched ? '✓' : '✗';
  switch (n.kind) {
    case 'all':
    case 'any':
      return [`${indent}${mark} ${n.kind}:`, ...n.parts.flatMap((p) => formatNode(p, `${indent}  `))];
    case 'not':
      return [`${indent}${mark} not:`, ...formatNode(n.part, `${indent}  `)];
    case 'person':
      return [
        `${indent}${mark} person:`,
        ...n.fields.map((f) => {
          const m = f.matched ? '✓' : '✗';
          if (f.personal)
            return `${indent}    ${m} ${f.field}: ${f.present ? 'present' : 'missing'} (personal: value not shown)`;
          return `${indent}    ${m} ${f.field}: ${f.present ? JSON.stringify(f.value) : 'missing'} (test ${JSON.stringify(f.test)})`;
        }),
      ];
    case 'trait':
      return [
        `${indent}${mark} trait ${n.trait}: ${n.personal ? '(personal: value not shown)' : n.value === null ? 'missing' : JSON.stringify(n.value)} (test ${JSON.stringify(n.test)})`,
      ];
    case 'records': {
      const traits = Object.entries(n.trait_values ?? {}).map(
        ([name, v]) => `trait ${name} = ${v === null ? 'missing' : JSON.stringify(v)}`,
      );
      return [
        `${indent}${mark} ${sourceText(n.source)}: ${n.count} seen, min_count ${n.min_count}${traits.length > 0 ? ` (${traits.join(', ')})` : ''}`,
      ];
    }
  }
}

function sourceText(s: SourceExplanation): string {
  const what = s.event !== undefined ? `event ${s.event}` : `message ${JSON.stringify(s.message)}`;
  const where = s.where ? ` where ${JSON.stringify(s.where)}` : '';
  return `${what}${where} in ${s.window.from}..${s.window.to} (${s.window.days} days)`;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12)));
}
