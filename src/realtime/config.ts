import { z } from 'zod';
import type { AudienceDefinition } from '../audiences/config.js';

/**
 * `realtime:` in `audience-sync.yaml` (docs/audiences.md, "Real-time triggers"): records accepted
 * at ingest that take people out of audiences (or put them into exclusion lists) between daily
 * builds.
 *
 * ```yaml
 * realtime:
 *   - on: { event: order_completed }
 *     remove_from: [high_intent_abandoners]
 *   - on: { event: refund_requested }
 *     add_to: [refund_exclusions]
 *   - on: { person: { unsubscribed: true } }
 *     remove_from: all
 * ```
 *
 * The shape is checked here; references to audiences need the whole file and are checked by
 * `refineRealtime`, called from `refineConfigFile` (src/config-file.ts). Event names are normalized with the
 * file's `event_aliases` by `normalizeRealtimeTriggers` in the config transform, like the event
 * names of audience rules, so a trigger meets the names ingest stores.
 */

/** Person fields a trigger may test; each only as `true`. */
export const REALTIME_PERSON_FLAGS = ['unsubscribed', 'deleted'] as const;
export type RealtimePersonFlag = (typeof REALTIME_PERSON_FLAGS)[number];

/** Every configured flag must be true on the people record (write two triggers for "either"). */
export type RealtimePersonMatch = { [K in RealtimePersonFlag]?: true };
export type RealtimeOn = { event: string } | { person: RealtimePersonMatch };

export interface RealtimeTrigger {
  on: RealtimeOn;
  /** Audience ids, or `all`: every audience that syncs somewhere. Empty when not written. */
  remove_from: string[] | 'all';
  /** Segment audiences with `realtime_additions: true`. Empty when not written. */
  add_to: string[];
}

type Path = (string | number)[];

/**
 * Messages of a strict mapping: `unknown key "x" (allowed here: a, b)` like the rest of the
 * audience language, and `notMapping` when the value is not a mapping at all.
 */
function strictKeys(allowed: readonly string[], notMapping: string) {
  return {
    error: (iss: { code?: string; keys?: string[] }) => {
      if (iss.code === 'invalid_type') return notMapping;
      if (iss.code !== 'unrecognized_keys') return undefined;
      const keys = iss.keys ?? [];
      return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')} (allowed here: ${allowed.join(', ')})`;
    },
  };
}

const flag = (name: RealtimePersonFlag) =>
  z
    .literal(true, {
      error: `${name} can only be true (a trigger fires on people records with ${name}: true)`,
    })
    .optional();

const personMatch = z
  .strictObject(
    { unsubscribed: flag('unsubscribed'), deleted: flag('deleted') },
    strictKeys(REALTIME_PERSON_FLAGS, 'person must be a mapping like { unsubscribed: true }'),
  )
  .refine((p) => p.unsubscribed || p.deleted, 'person needs unsubscribed: true and/or deleted: true');

const eventName = z.string({ error: 'event must be an event name' }).trim().min(1, 'event name is empty');

const onSchema = z
  .strictObject(
    { event: eventName.optional(), person: personMatch.optional() },
    strictKeys(['event', 'person'], 'on must be a mapping with event or person'),
  )
  .superRefine((on, ctx) => {
    if ((on.event === undefined) === (on.person === undefined)) {
      const got = on.event === undefined ? 'neither' : 'both';
      ctx.addIssue({
        code: 'custom',
        message: `on needs exactly one of event or person (got ${got})`,
        input: on,
      });
    }
  })
  .transform((on): RealtimeOn => (on.event !== undefined ? { event: on.event } : { person: on.person! }));

const audienceList = (key: string) =>
  z
    .array(z.string({ error: `${key} lists audience ids` }).min(1, 'audience id is empty'), {
      error: `${key} must be a list of audience ids`,
    })
    .min(1, `${key} needs at least one audience`);

const addTo = audienceList('add_to');

/**
 * A list of audience ids or `all`. Dispatched by hand rather than with `z.union`, whose failure
 * would name the whole value instead of the bad element (`remove_from[1]`).
 */
const removeFrom = z.unknown().transform((value, ctx): string[] | 'all' => {
  if (value === 'all') return 'all';
  if (typeof value === 'string') {
    ctx.addIssue({
      code: 'custom',
      message: `remove_from is a list of audience ids or "all" (for one audience write [${value}])`,
      input: value,
    });
    return z.NEVER;
  }
  const parsed = audienceList('remove_from').safeParse(value);
  if (parsed.success) return parsed.data;
  for (const i of parsed.error.issues)
    ctx.addIssue({ code: 'custom', message: i.message, path: i.path as Path, input: value });
  return z.NEVER;
});

const triggerSchema = z
  .strictObject(
    { on: onSchema, remove_from: removeFrom.optional(), add_to: addTo.optional() },
    strictKeys(['on', 'remove_from', 'add_to'], 'a trigger is a mapping { on, remove_from, add_to }'),
  )
  .superRefine((t, ctx) => {
    if (t.remove_from === undefined && t.add_to === undefined)
      ctx.addIssue({ code: 'custom', message: 'a trigger needs remove_from or add_to (or both)', input: t });
  })
  .transform(
    (t): RealtimeTrigger => ({ on: t.on, remove_from: t.remove_from ?? [], add_to: t.add_to ?? [] }),
  );

export const realtimeSchema = z.array(triggerSchema, { error: 'realtime must be a list of triggers' });

export function normalizeRealtimeTriggers(
  triggers: readonly RealtimeTrigger[],
  normalize: (name: string) => string,
): RealtimeTrigger[] {
  return triggers.map((t) => ('event' in t.on ? { ...t, on: { event: normalize(t.on.event) } } : t));
}

/**
 * The checks that need the audiences: every audience named exists and is named once per list;
 * `add_to` names only segments with `realtime_additions: true` and never an audience with a
 * holdout (a holdout member is never added); an audience is not in both lists of one trigger.
 * `fail` throws, naming the YAML path.
 */
export function refineRealtime(
  config: {
    audiences: readonly Pick<AudienceDefinition, 'id' | 'type' | 'holdout' | 'realtime_additions'>[];
    realtime: readonly RealtimeTrigger[];
  },
  fail: (path: Path, message: string) => never,
): void {
  const byId = new Map(config.audiences.map((a) => [a.id, a]));
  const defined = [...byId.keys()].join(', ') || 'none';
  config.realtime.forEach((t, i) => {
    const removed = t.remove_from === 'all' ? [] : t.remove_from;
    for (const [key, ids] of [
      ['remove_from', removed],
      ['add_to', t.add_to],
    ] as const) {
      const seen = new Set<string>();
      ids.forEach((id, j) => {
        const at: Path = ['realtime', i, key, j];
        const audience = byId.get(id);
        if (!audience) fail(at, `unknown audience "${id}" (defined: ${defined})`);
        if (seen.has(id)) fail(at, `audience "${id}" is listed twice`);
        seen.add(id);
        if (key !== 'add_to') return;
        if (audience!.holdout)
          fail(
            at,
            `audience "${id}" has a holdout, and a holdout member is never added: it cannot be an add_to target`,
          );
        if (audience!.type !== 'segment' || !audience!.realtime_additions)
          fail(
            at,
            `audience "${id}" is not a segment audience with realtime_additions: true (add_to is for exclusion lists: mark such a segment realtime_additions: true)`,
          );
        if (removed.includes(id)) fail(at, `audience "${id}" is also in remove_from of this trigger`);
      });
    }
  });
}
