import { z } from 'zod';
import { ConfigError } from '../config/errors.js';
import type { DestinationConfig } from '../config/schema.js';
import { messageRecord, personRecord } from '../contract/records.js';
import { writeBackMappingSchema } from '../contract/write-back.js';
import type { ScoreTables } from './score-tables.js';
import {
  type Expr,
  ExprSyntaxError,
  parseExpr,
  RESERVED_TRAIT_NAMES,
  TRAIT_AGGREGATES,
  TRAIT_NAME,
  TRAIT_TYPES,
  type TraitAggregate,
  type TraitType,
} from './traits.js';

/**
 * The audience language of `audience-sync.yaml` (docs/audiences.md).
 *
 * Conditions and features are parsed by hand on top of zod rather than with `z.union`: a union
 * that fails reports "invalid input" for the whole branch, while a hand dispatch can say
 * `audiences[0].when.all[1]: unknown key "evnt"`. Every message names the YAML path.
 */

/** A window longer than two years is almost certainly a typo (and would read every partition). */
export const MAX_WITHIN_DAYS = 730;
/** Lookback of an audience whose rules name no window, and of `never_send` conditions without one. */
export const DEFAULT_LOOKBACK_DAYS = 30;

export type Scalar = string | number | boolean | null;
export interface Operators {
  gt?: number | string;
  gte?: number | string;
  lt?: number | string;
  lte?: number | string;
  ne?: Scalar;
  in?: Scalar[];
}
/** A plain value means equality; an operator object means every operator in it must hold. */
export type ValueMatch = Scalar | Operators;
/** Field (or dotted property path) → value match; every entry must hold. */
export type Filters = Record<string, ValueMatch>;

/**
 * An operand read from the person's computed trait (docs/traits.md#traits-in-where): in a records
 * condition's `where` (and a trait aggregate's), `{ value: { gt: { trait: aov } } }` compares each
 * record's value with the value of the trait `aov` of the person the record counts for.
 */
export interface TraitOperand {
  trait: string;
}
/** The operators of a `where` test: bounds and `ne` may be trait operands. */
export interface WhereOperators {
  gt?: number | string | TraitOperand;
  gte?: number | string | TraitOperand;
  lt?: number | string | TraitOperand;
  lte?: number | string | TraitOperand;
  ne?: Scalar | TraitOperand;
  in?: Scalar[];
}
export type WhereMatch = Scalar | TraitOperand | WhereOperators;
/** Property path (or message field) → test of a `where`; every entry must hold. */
export type WhereFilters = Record<string, WhereMatch>;

export function isTraitOperand(v: unknown): v is TraitOperand {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'trait' in v;
}

/** The operators a trait operand may stand in. */
const TRAIT_OPERAND_KEYS = ['gt', 'gte', 'lt', 'lte', 'ne'] as const;

/** Trait names a `where` reads (its trait operands). */
export function whereTraits(where: WhereFilters | undefined, out: Set<string> = new Set()): Set<string> {
  for (const match of Object.values(where ?? {})) {
    if (isTraitOperand(match)) out.add(match.trait);
    else if (typeof match === 'object' && match !== null)
      for (const key of TRAIT_OPERAND_KEYS) {
        const v = (match as WhereOperators)[key];
        if (isTraitOperand(v)) out.add(v.trait);
      }
  }
  return out;
}

export interface Windowed {
  within_days?: number;
  where?: WhereFilters;
}
export interface EventCondition extends Windowed {
  event: string;
  min_count: number;
}
export interface MessageCondition extends Windowed {
  message: Filters;
  min_count: number;
}
export interface PersonCondition {
  person: Filters;
}
/** Tests of computed traits (docs/traits.md): trait name → value match, every entry must hold. */
export interface TraitCondition {
  trait: Filters;
}
export interface AllCondition {
  all: Condition[];
}
export interface AnyCondition {
  any: Condition[];
}
export interface NotCondition {
  not: Condition;
}
export type Condition =
  | EventCondition
  | MessageCondition
  | PersonCondition
  | TraitCondition
  | AllCondition
  | AnyCondition
  | NotCondition;

/** What a feature aggregates: one event name or a message selector, with optional window and filters. */
export type FeatureSource = ({ event: string } | { message: Filters }) & Windowed & { property?: string };
export const FEATURE_KINDS = ['count', 'sum', 'max', 'min', 'days_since'] as const;
export type FeatureKind = (typeof FEATURE_KINDS)[number];
export type ScoreTerm = { weight: number } & { [K in FeatureKind]?: FeatureSource } & { trait?: string };

/** Person fields a `person:` condition may test, besides `attributes.<path>` and `consent.<key>`. */
export const PERSON_FIELDS: readonly string[] = Object.keys(personRecord.shape).filter(
  (k) => k !== 'attributes' && k !== 'consent' && k !== 'ts',
);
/** Message fields a `message:` selector may test. */
export const MESSAGE_FIELDS: readonly string[] = Object.keys(messageRecord.shape).filter(
  (k) => k !== 'ts' && k !== 'received_at' && k !== 'id',
);

// --- value matches ------------------------------------------------------------------------------

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: 'must be a string, number, boolean or null',
});
const ordered = z.union([z.number(), z.string()], { error: 'must be a number or a string' });
const operators = z
  .strictObject({
    gt: ordered.optional(),
    gte: ordered.optional(),
    lt: ordered.optional(),
    lte: ordered.optional(),
    ne: scalar.optional(),
    in: z.array(scalar).min(1, 'in needs at least one value').optional(),
  })
  .refine((o) => Object.keys(o).length > 0, 'an operator object needs one of gt, gte, lt, lte, ne, in');

type Ctx = z.RefinementCtx;
type Path = (string | number)[];

function issue(ctx: Ctx, path: Path, message: string): void {
  ctx.addIssue({ code: 'custom', message, path, input: undefined });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sub<T>(schema: z.ZodType<T>, value: unknown, ctx: Ctx, path: Path): T | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const i of parsed.error.issues) issue(ctx, [...path, ...(i.path as Path)], i.message);
  return undefined;
}

function parseValueMatch(value: unknown, ctx: Ctx, path: Path, lower: boolean): ValueMatch | undefined {
  const v = isPlainObject(value) ? sub(operators, value, ctx, path) : sub(scalar, value, ctx, path);
  if (v === undefined || !lower) return v;
  // channel and metric are stored lowercased; compare like with like.
  if (typeof v === 'string') return v.toLowerCase();
  if (isPlainObject(v)) {
    const o = { ...(v as Operators) };
    if (typeof o.ne === 'string') o.ne = o.ne.toLowerCase();
    if (o.in) o.in = o.in.map((x) => (typeof x === 'string' ? x.toLowerCase() : x));
    return o;
  }
  return v;
}

type FilterKind = 'message' | 'person' | 'trait';

function parseFilters(value: unknown, ctx: Ctx, path: Path, kind: FilterKind): Filters | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, `${kind} must be a mapping of field: value`);
    return undefined;
  }
  if ((kind === 'person' || kind === 'trait') && Object.keys(value).length === 0) {
    issue(ctx, path, `${kind} needs at least one ${kind === 'trait' ? 'trait' : 'field'}`);
    return undefined;
  }
  const out: Filters = {};
  for (const [field, raw] of Object.entries(value)) {
    const at = [...path, field];
    if (kind === 'message' && !MESSAGE_FIELDS.includes(field)) {
      issue(ctx, at, `unknown message field "${field}" (known: ${MESSAGE_FIELDS.join(', ')})`);
      continue;
    }
    if (kind === 'person' && !isPersonField(field)) {
      issue(
        ctx,
        at,
        `unknown person field "${field}" (known: ${PERSON_FIELDS.join(', ')}, consent.ad_user_data, consent.ad_personalization, attributes.<name>)`,
      );
      continue;
    }
    if (kind === 'trait' && !TRAIT_NAME.test(field)) {
      issue(ctx, at, `"${field}" is not a trait name`);
      continue;
    }
    const lower = kind === 'message' && (field === 'channel' || field === 'metric');
    const v = parseValueMatch(raw, ctx, at, lower);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/**
 * A `where` test: a value match as in `parseValueMatch`, where `{ trait: name }` may stand for the
 * value (equality) or for the bound of `gt`, `gte`, `lt`, `lte` and `ne` when `traits` allows it.
 */
function parseWhereMatch(raw: unknown, ctx: Ctx, path: Path, traits: boolean): WhereMatch | undefined {
  if (isTraitOperand(raw)) return parseTraitOperand(raw, ctx, path, traits);
  if (!isPlainObject(raw) || !TRAIT_OPERAND_KEYS.some((k) => isTraitOperand(raw[k])))
    return parseValueMatch(raw, ctx, path, false);
  const literals = Object.fromEntries(Object.entries(raw).filter(([, v]) => !isTraitOperand(v)));
  const parsed =
    Object.keys(literals).length > 0
      ? (sub(operators, literals, ctx, path) as WhereOperators | undefined)
      : {};
  const out: Record<string, unknown> = {};
  let ok = parsed !== undefined;
  for (const [key, v] of Object.entries(raw)) {
    if (!isTraitOperand(v)) {
      if (parsed && key in parsed) out[key] = parsed[key as keyof WhereOperators];
      continue;
    }
    if (!(TRAIT_OPERAND_KEYS as readonly string[]).includes(key)) {
      issue(
        ctx,
        [...path, key],
        `${key} takes values; a trait operand stands in ${TRAIT_OPERAND_KEYS.join(', ')} or for the value`,
      );
      ok = false;
      continue;
    }
    const operand = parseTraitOperand(v, ctx, [...path, key], traits);
    if (operand) out[key] = operand;
    else ok = false;
  }
  return ok ? (out as WhereOperators) : undefined;
}

function parseTraitOperand(
  raw: TraitOperand,
  ctx: Ctx,
  path: Path,
  traits: boolean,
): TraitOperand | undefined {
  if (!traits) {
    issue(
      ctx,
      path,
      'a trait operand ({ trait: name }) is allowed in the where of event and message conditions and of trait aggregates only',
    );
    return undefined;
  }
  rejectExtraKeys(raw as unknown as Record<string, unknown>, ['trait'], ctx, path);
  if (typeof raw.trait !== 'string' || !TRAIT_NAME.test(raw.trait)) {
    issue(ctx, [...path, 'trait'], 'trait must be the name of a trait');
    return undefined;
  }
  return { trait: raw.trait };
}

/** `where`: property paths (message fields for messages) → tests, trait operands where allowed. */
function parseWhere(value: unknown, ctx: Ctx, path: Path, traits: boolean): WhereFilters | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, 'where must be a mapping of field: value');
    return undefined;
  }
  const out: WhereFilters = {};
  let ok = true;
  for (const [field, raw] of Object.entries(value)) {
    const at = [...path, field];
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(field)) {
      issue(ctx, at, `"${field}" is not a property path (names separated by dots)`);
      ok = false;
      continue;
    }
    const v = parseWhereMatch(raw, ctx, at, traits);
    if (v === undefined) ok = false;
    else out[field] = v;
  }
  return ok ? out : undefined;
}

function isPersonField(field: string): boolean {
  if (PERSON_FIELDS.includes(field)) return true;
  if (field === 'consent.ad_user_data' || field === 'consent.ad_personalization') return true;
  return /^attributes\.[^.\s]+(\.[^.\s]+)*$/.test(field);
}

// --- conditions and features --------------------------------------------------------------------

const withinDays = z
  .number({ error: 'within_days must be a number of days' })
  .int('within_days must be a whole number of days')
  .min(1, 'within_days must be at least 1')
  .max(MAX_WITHIN_DAYS, `within_days must be at most ${MAX_WITHIN_DAYS}`);
const minCount = z
  .number({ error: 'min_count must be a number' })
  .int('min_count must be a whole number')
  .min(1, 'min_count must be at least 1');
const eventName = z.string({ error: 'event must be an event name' }).trim().min(1, 'event name is empty');
const propertyPath = z
  .string({ error: 'property must be a property name' })
  .regex(/^[^.\s]+(\.[^.\s]+)*$/, 'property must be a property path (names separated by dots)');

const CONDITION_KEYS = ['event', 'message', 'person', 'trait', 'all', 'any', 'not'] as const;

function parseCondition(value: unknown, ctx: Ctx, path: Path): Condition | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, `a condition must be a mapping with one of ${CONDITION_KEYS.join(', ')}`);
    return undefined;
  }
  const heads = CONDITION_KEYS.filter((k) => k in value);
  if (heads.length !== 1) {
    issue(
      ctx,
      path,
      heads.length === 0
        ? `a condition needs one of ${CONDITION_KEYS.join(', ')} (got ${Object.keys(value).join(', ') || 'nothing'})`
        : `a condition has exactly one of ${CONDITION_KEYS.join(', ')} (got ${heads.join(' and ')})`,
    );
    return undefined;
  }
  const head = heads[0]!;
  if (head === 'all' || head === 'any') {
    rejectExtraKeys(value, [head], ctx, path);
    const list = value[head];
    if (!Array.isArray(list) || list.length === 0) {
      issue(ctx, [...path, head], `${head} must be a non-empty list of conditions`);
      return undefined;
    }
    const parts = list.map((c, i) => parseCondition(c, ctx, [...path, head, i]));
    if (parts.some((p) => p === undefined)) return undefined;
    return head === 'all' ? { all: parts as Condition[] } : { any: parts as Condition[] };
  }
  if (head === 'not') {
    rejectExtraKeys(value, ['not'], ctx, path);
    const inner = parseCondition(value.not, ctx, [...path, 'not']);
    return inner && { not: inner };
  }
  if (head === 'person') {
    rejectExtraKeys(value, ['person'], ctx, path, 'person conditions test the snapshot as of D and take no');
    const person = parseFilters(value.person, ctx, [...path, 'person'], 'person');
    return person && { person };
  }
  if (head === 'trait') {
    rejectExtraKeys(value, ['trait'], ctx, path, 'trait conditions test computed values and take no');
    const trait = parseFilters(value.trait, ctx, [...path, 'trait'], 'trait');
    return trait && { trait };
  }
  rejectExtraKeys(value, [head, 'within_days', 'min_count', 'where'], ctx, path);
  const windowed = parseWindowed(value, ctx, path, true);
  const min = value.min_count === undefined ? 1 : sub(minCount, value.min_count, ctx, [...path, 'min_count']);
  if (!windowed || min === undefined) return undefined;
  if (head === 'event') {
    const name = sub(eventName, value.event, ctx, [...path, 'event']);
    return name === undefined ? undefined : { event: name, min_count: min, ...windowed };
  }
  const message = parseFilters(value.message, ctx, [...path, 'message'], 'message');
  return message && { message, min_count: min, ...windowed };
}

/** `within_days` and `where` (`traits`: whether its tests may read traits). */
function parseWindowed(
  value: Record<string, unknown>,
  ctx: Ctx,
  path: Path,
  traits: boolean,
): Windowed | undefined {
  const out: Windowed = {};
  let ok = true;
  if (value.within_days !== undefined) {
    const w = sub(withinDays, value.within_days, ctx, [...path, 'within_days']);
    if (w === undefined) ok = false;
    else out.within_days = w;
  }
  if (value.where !== undefined) {
    const where = parseWhere(value.where, ctx, [...path, 'where'], traits);
    if (where === undefined) ok = false;
    else out.where = where;
  }
  return ok ? out : undefined;
}

function rejectExtraKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  ctx: Ctx,
  path: Path,
  why?: string,
): void {
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const reason = why ? `${why} "${key}"` : `unknown key "${key}" (allowed here: ${allowed.join(', ')})`;
    issue(ctx, [...path, key], reason);
  }
}

/** Whether an aggregate reads a property: required (sum, min, max, avg), optional (first, last), none. */
function propertyMode(kind: string): 'required' | 'optional' | 'none' {
  if (kind === 'sum' || kind === 'max' || kind === 'min' || kind === 'avg') return 'required';
  return kind === 'first' || kind === 'last' ? 'optional' : 'none';
}

function parseFeature(
  kind: string,
  value: unknown,
  ctx: Ctx,
  path: Path,
  traits = false,
): FeatureSource | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, `${kind} needs a mapping with event or message`);
    return undefined;
  }
  const hasEvent = 'event' in value;
  const hasMessage = 'message' in value;
  if (hasEvent === hasMessage) {
    issue(ctx, path, `${kind} needs exactly one of event or message`);
    return undefined;
  }
  const head = hasEvent ? 'event' : 'message';
  rejectExtraKeys(value, [head, 'within_days', 'where', 'property'], ctx, path);
  const windowed = parseWindowed(value, ctx, path, traits);
  let property: string | undefined;
  const mode = propertyMode(kind);
  if (mode === 'required' || (mode === 'optional' && value.property !== undefined)) {
    if (!hasEvent) {
      issue(ctx, path, `${kind} needs a numeric event property; message records have none (use count)`);
      return undefined;
    }
    if (value.property === undefined) {
      issue(ctx, [...path, 'property'], `${kind} needs the property to aggregate (e.g. property: value)`);
      return undefined;
    }
    property = sub(propertyPath, value.property, ctx, [...path, 'property']);
    if (property === undefined) return undefined;
  } else if (value.property !== undefined) {
    issue(ctx, [...path, 'property'], `${kind} takes no property`);
    return undefined;
  }
  if (!windowed) return undefined;
  const source = hasEvent
    ? sub(eventName, value.event, ctx, [...path, 'event'])
    : parseFilters(value.message, ctx, [...path, 'message'], 'message');
  if (source === undefined) return undefined;
  return {
    ...(hasEvent ? { event: source as string } : { message: source as Filters }),
    ...windowed,
    ...(property !== undefined ? { property } : {}),
  };
}

function parseScoreTerm(value: unknown, ctx: Ctx, path: Path): ScoreTerm | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, `a score term is a mapping { weight, <${FEATURE_KINDS.join('|')}>: ... }`);
    return undefined;
  }
  const kinds = [...FEATURE_KINDS, 'trait' as const].filter((k) => k in value);
  if (kinds.length !== 1) {
    issue(ctx, path, `a score term needs exactly one of ${FEATURE_KINDS.join(', ')}, trait`);
    return undefined;
  }
  const kind = kinds[0]!;
  rejectExtraKeys(value, ['weight', kind], ctx, path);
  const weight = sub(
    z.number({ error: 'weight must be a number' }).finite('weight must be finite'),
    value.weight,
    ctx,
    [...path, 'weight'],
  );
  if (kind === 'trait') {
    const name = value.trait;
    if (typeof name !== 'string' || !TRAIT_NAME.test(name)) {
      issue(ctx, [...path, 'trait'], 'trait must be the name of a trait');
      return undefined;
    }
    return weight === undefined ? undefined : { weight, trait: name };
  }
  const feature = parseFeature(kind, value[kind], ctx, [...path, kind]);
  if (weight === undefined || feature === undefined) return undefined;
  return { weight, [kind]: feature } as ScoreTerm;
}

/**
 * A lift covariate (`measure.covariates[i]`): a score term without weight (`count`, `sum`, `max`,
 * `min`, `days_since` over events or messages), or `attribute: <person field>` (a number from the
 * people snapshot). Evaluated per person as of the day before they entered (src/measure/covariates.ts).
 */
export type Covariate = { [K in FeatureKind]?: FeatureSource } | { attribute: string };

/** The one key of `heads` a mapping has (`what`: "a covariate"), or undefined after an issue. */
function oneHead<K extends string>(
  value: unknown,
  heads: readonly K[],
  what: string,
  ctx: Ctx,
  path: Path,
): { value: Record<string, unknown>; head: K } | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, `${what} is a mapping with one of ${heads.join(', ')}`);
    return undefined;
  }
  const found = heads.filter((k) => k in value);
  if (found.length !== 1) {
    issue(ctx, path, `${what} needs exactly one of ${heads.join(', ')}`);
    return undefined;
  }
  return { value, head: found[0]! };
}

function parseCovariate(raw: unknown, ctx: Ctx, path: Path): Covariate | undefined {
  const found = oneHead(raw, [...FEATURE_KINDS, 'attribute'] as const, 'a covariate', ctx, path);
  if (!found) return undefined;
  const { value, head: kind } = found;
  rejectExtraKeys(value, [kind], ctx, path, 'covariates take no weight or other key:');
  if (kind === 'attribute') {
    const field = value.attribute;
    if (typeof field !== 'string' || !isPersonField(field)) {
      issue(
        ctx,
        [...path, 'attribute'],
        `attribute must be a person field (${PERSON_FIELDS.join(', ')}, attributes.<name>)`,
      );
      return undefined;
    }
    return { attribute: field };
  }
  const feature = parseFeature(kind, value[kind], ctx, [...path, kind]);
  return feature && ({ [kind]: feature } as Covariate);
}

const covariatesSchema = z
  .array(z.unknown(), { error: 'covariates must be a list of terms' })
  .max(10, 'at most 10 covariates')
  .transform((terms, ctx) => {
    const out = terms.map((t, i) => parseCovariate(t, ctx, [i]));
    return out.some((t) => t === undefined) ? z.NEVER : (out as Covariate[]);
  });

const conditionSchema = z.unknown().transform((value, ctx) => parseCondition(value, ctx, []) ?? z.NEVER);
const scoreSchema = z
  .array(z.unknown(), { error: 'score must be a list of terms' })
  .min(1, 'score needs at least one term')
  .transform((terms, ctx) => {
    const out = terms.map((t, i) => parseScoreTerm(t, ctx, [i]));
    return out.some((t) => t === undefined) ? z.NEVER : (out as ScoreTerm[]);
  });

// --- traits (docs/traits.md) --------------------------------------------------------------------

export type TraitLiteral = string | number;
export interface BucketTier {
  /** The tier holds values below this bound (and at or above the previous tier's); none: the rest. */
  below?: number;
  value: TraitLiteral;
}
export type TraitBody =
  | { kind: 'aggregate'; aggregate: TraitAggregate; source: FeatureSource }
  | { kind: 'expr'; expr: string; parsed: Expr }
  | { kind: 'bucket'; of: string; parsed: Expr; tiers: BucketTier[]; missing?: TraitLiteral }
  | { kind: 'case'; branches: { when: Condition; value: TraitLiteral | null }[]; otherwise?: TraitLiteral }
  | { kind: 'score_table'; table: string; column: string };
export type TraitDefinition = TraitBody & {
  /** Declared type: first / last of a text property, dates written as strings in bucket / case. */
  type?: TraitType;
  /** The value when the computation gives none (null). */
  default?: TraitLiteral;
  description?: string;
};
export type Traits = Record<string, TraitDefinition>;

const TRAIT_HEADS = [...TRAIT_AGGREGATES, 'expr', 'bucket', 'case', 'score_table'] as const;
const traitLiteral = z.union([z.string(), z.number().finite()], { error: 'must be a string or a number' });

function parseExprAt(value: unknown, ctx: Ctx, path: Path): Expr | undefined {
  if (typeof value !== 'string') {
    issue(ctx, path, 'must be an expression as a string (e.g. "total_spend / orders")');
    return undefined;
  }
  try {
    return parseExpr(value);
  } catch (error) {
    if (!(error instanceof ExprSyntaxError)) throw error;
    issue(ctx, path, error.message);
    return undefined;
  }
}

function parseTrait(raw: unknown, ctx: Ctx, path: Path): TraitDefinition | undefined {
  const found = oneHead(raw, TRAIT_HEADS, 'a trait', ctx, path);
  if (!found) return undefined;
  const { value, head } = found;
  const extra = head === 'score_table' ? ['column'] : [];
  rejectExtraKeys(value, [head, ...extra, 'type', 'default', 'description'], ctx, path);
  const common: Pick<TraitDefinition, 'type' | 'default' | 'description'> = {};
  if (value.type !== undefined) {
    const t = sub(
      z.enum(TRAIT_TYPES, { error: `type must be one of ${TRAIT_TYPES.join(', ')}` }),
      value.type,
      ctx,
      [...path, 'type'],
    );
    if (t === undefined) return undefined;
    common.type = t;
  }
  if (value.default !== undefined) {
    const d = sub(traitLiteral, value.default, ctx, [...path, 'default']);
    if (d === undefined) return undefined;
    common.default = d;
  }
  if (value.description !== undefined) {
    const d = sub(z.string().max(1000), value.description, ctx, [...path, 'description']);
    if (d !== undefined) common.description = d;
  }
  const at = [...path, head];
  switch (head) {
    case 'expr': {
      const parsed = parseExprAt(value.expr, ctx, at);
      return parsed && { kind: 'expr', expr: value.expr as string, parsed, ...common };
    }
    case 'score_table': {
      const table = sub(
        z.string({ error: 'score_table must name a score table' }).min(1),
        value.score_table,
        ctx,
        at,
      );
      const column = sub(
        z
          .string({ error: 'column must name a column of the score table' })
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'column must be a column name'),
        value.column,
        ctx,
        [...path, 'column'],
      );
      if (table === undefined || column === undefined) return undefined;
      return { kind: 'score_table', table, column, ...common };
    }
    case 'bucket':
      return parseBucket(value.bucket, ctx, at, common);
    case 'case':
      return parseCase(value.case, ctx, at, common);
    default: {
      const source = parseFeature(head, value[head], ctx, at, true);
      return source && { kind: 'aggregate', aggregate: head, source, ...common };
    }
  }
}

function parseBucket(
  value: unknown,
  ctx: Ctx,
  path: Path,
  common: Pick<TraitDefinition, 'type' | 'default' | 'description'>,
): TraitDefinition | undefined {
  if (!isPlainObject(value)) {
    issue(ctx, path, 'bucket is a mapping { of: <expression>, tiers: [{ below, value }, ...], missing }');
    return undefined;
  }
  rejectExtraKeys(value, ['of', 'tiers', 'missing'], ctx, path);
  const parsed = parseExprAt(value.of, ctx, [...path, 'of']);
  if (!Array.isArray(value.tiers) || value.tiers.length === 0) {
    issue(ctx, [...path, 'tiers'], 'tiers must be a non-empty list of { below, value }');
    return undefined;
  }
  const tiers: BucketTier[] = [];
  let ok = parsed !== undefined;
  value.tiers.forEach((raw, i) => {
    const at = [...path, 'tiers', i];
    const tier = sub(
      z.strictObject({
        below: z.number({ error: 'below must be a number' }).finite().optional(),
        value: traitLiteral,
      }),
      raw,
      ctx,
      at,
    );
    if (!tier) {
      ok = false;
      return;
    }
    const last = i === (value.tiers as unknown[]).length - 1;
    if (tier.below === undefined && !last) {
      issue(
        ctx,
        [...at, 'below'],
        'only the last tier may leave out below (it takes every value above the others)',
      );
      ok = false;
    }
    const previous = tiers[i - 1]?.below;
    if (tier.below !== undefined && previous !== undefined && tier.below <= previous) {
      issue(ctx, [...at, 'below'], `tier bounds must increase (${tier.below} is not above ${previous})`);
      ok = false;
    }
    tiers.push(tier.below === undefined ? { value: tier.value } : { below: tier.below, value: tier.value });
  });
  let missing: TraitLiteral | undefined;
  if (value.missing !== undefined) {
    missing = sub(traitLiteral, value.missing, ctx, [...path, 'missing']);
    if (missing === undefined) ok = false;
  }
  if (!ok || !parsed) return undefined;
  return {
    kind: 'bucket',
    of: value.of as string,
    parsed,
    tiers,
    ...(missing !== undefined ? { missing } : {}),
    ...common,
  };
}

function parseCase(
  value: unknown,
  ctx: Ctx,
  path: Path,
  common: Pick<TraitDefinition, 'type' | 'default' | 'description'>,
): TraitDefinition | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    issue(
      ctx,
      path,
      'case is a non-empty list of { when: <condition>, value }, optionally ending with { else: value }',
    );
    return undefined;
  }
  const branches: { when: Condition; value: TraitLiteral | null }[] = [];
  let otherwise: TraitLiteral | undefined;
  let ok = true;
  value.forEach((raw, i) => {
    const at = [...path, i];
    if (isPlainObject(raw) && 'else' in raw) {
      rejectExtraKeys(raw, ['else'], ctx, at);
      if (i !== (value as unknown[]).length - 1) {
        issue(ctx, at, 'else must be the last entry of case');
        ok = false;
        return;
      }
      otherwise = sub(traitLiteral, raw.else, ctx, [...at, 'else']);
      if (otherwise === undefined) ok = false;
      return;
    }
    if (!isPlainObject(raw) || !('when' in raw) || !('value' in raw)) {
      issue(ctx, at, 'a case entry is { when: <condition>, value } (or { else: value } last)');
      ok = false;
      return;
    }
    rejectExtraKeys(raw, ['when', 'value'], ctx, at);
    const when = parseCondition(raw.when, ctx, [...at, 'when']);
    const v = raw.value === null ? null : sub(traitLiteral, raw.value, ctx, [...at, 'value']);
    if (when === undefined || v === undefined) {
      ok = false;
      return;
    }
    branches.push({ when, value: v });
  });
  if (!ok) return undefined;
  if (branches.length === 0) {
    issue(ctx, path, 'case needs at least one { when, value } entry');
    return undefined;
  }
  return { kind: 'case', branches, ...(otherwise !== undefined ? { otherwise } : {}), ...common };
}

export const traitsSchema = z
  .record(z.string(), z.unknown(), { error: 'traits must be a mapping of name: definition' })
  .transform((raw, ctx) => {
    const out: Traits = {};
    let ok = true;
    for (const [name, value] of Object.entries(raw)) {
      if (!TRAIT_NAME.test(name) || RESERVED_TRAIT_NAMES.includes(name)) {
        issue(
          ctx,
          [name],
          RESERVED_TRAIT_NAMES.includes(name)
            ? `"${name}" is reserved in expressions`
            : 'trait names use lower-case letters, digits and _, starting with a letter (max 63)',
        );
        ok = false;
        continue;
      }
      const t = parseTrait(value, ctx, [name]);
      if (t) out[name] = t;
      else ok = false;
    }
    return ok ? out : z.NEVER;
  });

// --- audiences and the whole file ---------------------------------------------------------------

/** Audience ids become object-key segments and job-id parts: letters, digits, `_`, `-`, no `:`. */
export const audienceId = z
  .string({ error: 'id must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "audience ids use letters, digits, '_' and '-' (max 64)");

const fraction = (what: string) =>
  z
    .number({ error: `${what} must be a number` })
    .gt(0, `${what} must be in (0, 1]`)
    .lte(1, `${what} must be in (0, 1]`);

export const audienceSchema = z.strictObject({
  id: audienceId,
  type: z.enum(['segment', 'top_fraction'], { error: 'type must be segment or top_fraction' }),
  description: z.string().max(1000).optional(),
  when: conditionSchema,
  exclude: z.array(audienceId).default([]),
  score: scoreSchema.optional(),
  top_fraction: fraction('top_fraction').optional(),
  holdout: z
    .strictObject({
      fraction: fraction('holdout.fraction'),
      /** Defaults to the audience id; audiences that share a salt share one control group. */
      salt: z.string().min(1, 'salt is empty').max(200).optional(),
    })
    .optional(),
  measure: z
    .strictObject({
      event: eventName,
      window_days: z
        .number({ error: 'window_days must be a number' })
        .int('window_days must be whole days')
        .min(1, 'window_days must be at least 1')
        .max(365, 'window_days must be at most 365'),
      /** Pre-entry covariates for the regression-adjusted (CUPED) lift. */
      covariates: covariatesSchema.optional(),
    })
    .optional(),
  sync: z.array(z.string().min(1)).default([]),
  write_back: z
    .strictObject({
      destination: z.string().min(1),
      attributes: writeBackMappingSchema,
    })
    .optional(),
  /** Segments only: `realtime:` triggers may add people between builds (`add_to`, exclusion lists). */
  realtime_additions: z.boolean({ error: 'realtime_additions must be true or false' }).default(false),
});

/** One audience as parsed (event names not yet normalized) and, after `normalizeAudienceRules`, as used. */
export type AudienceDefinition = z.output<typeof audienceSchema>;

/** `never_send` and `audiences`: the keys of the file that the audience language owns. */
export const audienceRulesShape = {
  never_send: conditionSchema.optional(),
  traits: traitsSchema.default({}),
  audiences: z.array(audienceSchema).default([]),
};

/** The audience rules of a configuration: what the build, explain and the SQL compiler read. */
export interface AudienceRules {
  audiences: AudienceDefinition[];
  never_send?: Condition | undefined;
  /** Computed traits (docs/traits.md); none when left out. */
  traits?: Traits | undefined;
  /** External score tables traits read (docs/traits.md#score-tables). */
  score_tables?: ScoreTables | undefined;
}

/** Event names in rules are normalized like incoming events, aliases included, so they meet. */
export function normalizeAudienceRules<T extends AudienceRules>(
  rules: T,
  normalize: (s: string) => string,
): T {
  return {
    ...rules,
    never_send: rules.never_send && normalizeCondition(rules.never_send, normalize),
    audiences: rules.audiences.map((a) => normalizeAudience(a, normalize)),
    ...(rules.traits ? { traits: normalizeTraits(rules.traits, normalize) } : {}),
  };
}

function normalizeTraits(traits: Traits, normalize: (s: string) => string): Traits {
  const out: Traits = {};
  for (const [name, t] of Object.entries(traits)) {
    if (t.kind === 'aggregate' && 'event' in t.source)
      out[name] = { ...t, source: { ...t.source, event: normalize(t.source.event) } };
    else if (t.kind === 'case')
      out[name] = {
        ...t,
        branches: t.branches.map((b) => ({ ...b, when: normalizeCondition(b.when, normalize) })),
      };
    else out[name] = t;
  }
  return out;
}

function normalizeAudience(a: AudienceDefinition, normalize: (s: string) => string): AudienceDefinition {
  return {
    ...a,
    when: normalizeCondition(a.when, normalize),
    ...(a.score ? { score: a.score.map((t) => normalizeTerm(t, normalize)) } : {}),
    ...(a.measure
      ? {
          measure: {
            ...a.measure,
            event: normalize(a.measure.event),
            ...(a.measure.covariates
              ? { covariates: a.measure.covariates.map((c) => normalizeCovariate(c, normalize)) }
              : {}),
          },
        }
      : {}),
  };
}

function normalizeCondition(c: Condition, normalize: (s: string) => string): Condition {
  if ('all' in c) return { all: c.all.map((x) => normalizeCondition(x, normalize)) };
  if ('any' in c) return { any: c.any.map((x) => normalizeCondition(x, normalize)) };
  if ('not' in c) return { not: normalizeCondition(c.not, normalize) };
  if ('event' in c) return { ...c, event: normalize(c.event) };
  return c;
}

function normalizeCovariate(c: Covariate, normalize: (s: string) => string): Covariate {
  if ('attribute' in c) return c;
  const { weight: _weight, ...term } = normalizeTerm({ weight: 0, ...c }, normalize);
  return term as Covariate;
}

function normalizeTerm(t: ScoreTerm, normalize: (s: string) => string): ScoreTerm {
  const out: ScoreTerm = { ...t };
  for (const kind of FEATURE_KINDS) {
    const f = t[kind];
    if (f && 'event' in f) out[kind] = { ...f, event: normalize(f.event) };
  }
  return out;
}

// --- cross-references -----------------------------------------------------------------------------

/**
 * Checks of the audiences that need the whole list: unique ids, `exclude` references and cycles,
 * type-specific keys, destinations named by `sync` / `write_back`. `fail` throws, naming the YAML
 * path.
 */
export function refineAudiences(
  config: { audiences: readonly AudienceDefinition[]; destinations: Record<string, DestinationConfig> },
  fail: (path: Path, message: string) => never,
): void {
  const index = new Map<string, number>();
  config.audiences.forEach((a, i) => {
    const seen = index.get(a.id);
    if (seen !== undefined)
      fail(['audiences', i, 'id'], `duplicate audience id "${a.id}" (also audiences[${seen}])`);
    index.set(a.id, i);
  });
  const destinations = Object.keys(config.destinations);
  const known = destinations.join(', ') || 'none';
  config.audiences.forEach((a, i) => {
    const at: Path = ['audiences', i];
    if (a.type === 'top_fraction') {
      if (a.top_fraction === undefined)
        fail([...at, 'top_fraction'], 'a top_fraction audience needs top_fraction');
      if (!a.score) fail([...at, 'score'], 'a top_fraction audience needs score (how to rank people)');
    } else {
      for (const key of ['top_fraction', 'score', 'holdout'] as const) {
        if (a[key] !== undefined) {
          fail(
            [...at, key],
            `${key} applies only to top_fraction audiences (segments keep everyone who matches)`,
          );
        }
      }
    }
    // A covariate must not be affected by the treatment: an attribute this audience writes back is.
    a.measure?.covariates?.forEach((c, j) => {
      if (!('attribute' in c) || !a.write_back) return;
      if (c.attribute.replace(/^attributes\./, '') in a.write_back.attributes)
        fail(
          [...at, 'measure', 'covariates', j, 'attribute'],
          `covariate ${c.attribute} is written back by this audience (write_back), so it is measured after entry and can be changed by the treatment`,
        );
    });
    if (a.type !== 'segment' && a.realtime_additions)
      fail(
        [...at, 'realtime_additions'],
        'realtime_additions applies only to segment audiences (add_to grows exclusion lists)',
      );
    a.exclude.forEach((other, j) => {
      if (other === a.id) fail([...at, 'exclude', j], `audience "${a.id}" cannot exclude itself`);
      if (!index.has(other)) fail([...at, 'exclude', j], `unknown audience "${other}"`);
    });
    a.sync.forEach((d, j) => {
      if (!config.destinations[d]) fail([...at, 'sync', j], `unknown destination "${d}" (defined: ${known})`);
    });
    if (new Set(a.sync).size !== a.sync.length) fail([...at, 'sync'], 'a destination is listed twice');
    if (a.write_back) {
      const d = config.destinations[a.write_back.destination];
      if (!d)
        fail(
          [...at, 'write_back', 'destination'],
          `unknown destination "${a.write_back.destination}" (defined: ${known})`,
        );
      else if (d.type !== 'customerio' && d.type !== 'dry_run') {
        fail(
          [...at, 'write_back', 'destination'],
          `write_back goes to a customerio (or dry_run) destination, "${a.write_back.destination}" is ${d.type}`,
        );
      }
    }
  });
  const cycle = findExcludeCycle(config.audiences);
  if (cycle) {
    const i = index.get(cycle[0]!)!;
    fail(['audiences', i, 'exclude'], `audiences exclude each other in a cycle: ${cycle.join(' → ')}`);
  }
}

/** The first cycle in the `exclude` graph as a list of ids ending where it started, or undefined. */
export function findExcludeCycle(
  audiences: readonly { id: string; exclude: readonly string[] }[],
): string[] | undefined {
  const byId = new Map(audiences.map((a) => [a.id, a]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    const s = state.get(id);
    if (s === 'done') return undefined;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const next of byId.get(id)?.exclude ?? []) {
      if (!byId.has(next)) continue;
      const found = visit(next);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const a of audiences) {
    const found = visit(a.id);
    if (found) return found;
  }
  return undefined;
}

/**
 * Audiences in build order: every audience after the ones it excludes (their members for the same
 * day must exist first). Ties keep the file order.
 */
export function buildOrder<T extends { id: string; exclude: readonly string[] }>(
  audiences: readonly T[],
): T[] {
  const byId = new Map(audiences.map((a) => [a.id, a]));
  const done = new Set<string>();
  const out: T[] = [];
  const visit = (a: T) => {
    if (done.has(a.id)) return;
    done.add(a.id);
    for (const dep of a.exclude) {
      const d = byId.get(dep);
      if (d) visit(d);
    }
    out.push(a);
  };
  for (const a of audiences) visit(a);
  return out;
}

/** Every audience `ids` need, transitively through `exclude`, in build order. */
export function withDependencies<T extends { id: string; exclude: readonly string[] }>(
  audiences: readonly T[],
  ids: readonly string[],
): T[] {
  const byId = new Map(audiences.map((a) => [a.id, a]));
  const wanted = new Set<string>();
  const add = (id: string) => {
    if (wanted.has(id)) return;
    const a = byId.get(id);
    if (!a)
      throw new ConfigError(`unknown audience "${id}" (defined: ${[...byId.keys()].join(', ') || 'none'})`);
    wanted.add(id);
    for (const dep of a.exclude) add(dep);
  };
  for (const id of ids) add(id);
  return buildOrder(audiences).filter((a) => wanted.has(a.id));
}

/** The holdout salt in force: the configured one, or the audience id. */
export function holdoutSalt(audience: Pick<AudienceDefinition, 'id' | 'holdout'>): string {
  return audience.holdout?.salt ?? audience.id;
}
