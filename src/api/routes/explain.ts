import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { explainPerson, PersonNotFoundError } from '../../audiences/explain.js';
import type { LoadedConfig } from '../../config/load-config.js';
import type { AudienceSyncConfig } from '../../config-file.js';
import { isDay } from '../../contract/days.js';
import { errorResponses, HttpError } from '../http-errors.js';
import { adminAccess } from '../plugins/auth.js';

/**
 * `GET /v1/audiences/:id/explain?customer_id=…&date=…` (behind `ADMIN_API_KEYS`): why a person is
 * or is not in the audience on a day, recomputed from the raw data with the build's SQL
 * (audiences/explain.ts). Personal fields show only present / missing; error messages do not echo
 * the customer id (query strings can carry personal data).
 */
export interface ExplainRoutesOptions {
  loadConfig: () => Promise<LoadedConfig<AudienceSyncConfig>>;
  /** Requests per minute per admin key (or client address). */
  rateLimitPerMinute?: number;
}

const day = z.string().refine(isDay, 'must be a day as YYYY-MM-DD');

const source = z.object({
  dataset: z.enum(['events', 'messages']),
  event: z.string().optional(),
  message: z.record(z.string(), z.unknown()).optional(),
  where: z.record(z.string(), z.unknown()).optional(),
  window: z.object({ days: z.number().int(), from: z.string(), to: z.string() }),
});

const personField = z.object({
  field: z.string(),
  matched: z.boolean(),
  present: z.boolean(),
  personal: z.literal(true).optional(),
  test: z.unknown().optional(),
  value: z.unknown().optional(),
});

/**
 * A condition node (audiences/explain.ts `ExplainNode`). Nodes nest (`all` / `any` list `parts`,
 * `not` has one `part`, each a node again); the OpenAPI document describes one level, since a
 * recursive schema would need a named component, and nested nodes pass through as built.
 */
const conditionNode = z
  .looseObject({
    kind: z.enum(['all', 'any', 'not', 'person', 'trait', 'records']),
    matched: z.boolean(),
    parts: z.array(z.unknown()).optional(),
    part: z.unknown().optional(),
    fields: z.array(personField).optional(),
    source: source.optional(),
    count: z.number().int().optional(),
    min_count: z.number().int().optional(),
    trait_values: z.record(z.string(), z.unknown()).optional(),
    trait: z.string().optional(),
    value: z.unknown().optional(),
    personal: z.literal(true).optional(),
    test: z.unknown().optional(),
  })
  .describe(
    'all / any: parts (nodes); not: part (a node); person: fields tested; trait: trait, value (unless personal), test; records: source, count seen, min_count, trait_values (traits its where compares records with)',
  );

const audienceExplanation = z.object({
  id: z.string(),
  type: z.enum(['segment', 'top_fraction']),
  requested: z.boolean(),
  in_universe: z.boolean(),
  condition: conditionNode,
  matched: z.boolean(),
  never_send: z.boolean(),
  excluded_by: z.array(z.string()),
  eligible: z.boolean(),
  traits: z
    .record(z.string(), z.unknown())
    .describe('values of the traits the audience reads (null: missing)'),
  score: z
    .object({
      value: z.number(),
      terms: z.array(
        z.object({
          kind: z.enum(['count', 'sum', 'max', 'min', 'days_since', 'trait']),
          weight: z.number(),
          source: source.optional(),
          trait: z.string().optional(),
          property: z.string().optional(),
          value: z.number(),
          contribution: z.number(),
        }),
      ),
    })
    .nullable(),
  selection: z.object({
    eligible: z.number().int(),
    selected: z.number().int(),
    top_fraction: z.number().nullable(),
    cut_score: z.number().nullable(),
  }),
  selected: z.boolean(),
  member: z
    .object({
      rank: z.number().int(),
      score: z.number(),
      group: z.enum(['treatment', 'holdout']),
      entered: z.string(),
    })
    .nullable(),
  holdout: z.object({ fraction: z.number() }).nullable(),
});

const explanationSchema = z.object({
  day: z.string(),
  customer_id: z.string(),
  requested_id: z.string().optional(),
  in_snapshot: z.boolean(),
  never_send: z.object({ matched: z.boolean(), condition: conditionNode }).nullable(),
  audiences: z.array(audienceExplanation),
});

export const explainRoutes: FastifyPluginAsyncZod<ExplainRoutesOptions> = async (app, options) => {
  const { auth, config } = adminAccess(app.env.ADMIN_API_KEYS, options.rateLimitPerMinute);
  // An explanation runs a whole build of the day in the SQL engine: one at a time per process.
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };

  app.get(
    '/v1/audiences/:id/explain',
    {
      onRequest: auth,
      config,
      schema: {
        params: z.object({
          id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'invalid audience id'),
        }),
        querystring: z.object({ customer_id: z.string().min(1).max(256), date: day.optional() }),
        response: { 200: explanationSchema, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const loaded = await options.loadConfig();
      if (!loaded.config.audiences.some((a) => a.id === id))
        throw new HttpError(404, 'not_found', `audience ${id} is not configured`);
      try {
        return await serialized(() =>
          explainPerson({
            store: app.store,
            config: loaded.config,
            customerId: request.query.customer_id,
            audienceId: id,
            ...(request.query.date ? { day: request.query.date } : {}),
          }),
        );
      } catch (error) {
        if (error instanceof PersonNotFoundError)
          throw new HttpError(
            404,
            'person_not_found',
            `the customer is not in the people snapshot of ${error.day} and has no records there`,
          );
        throw error;
      }
    },
  );
};
