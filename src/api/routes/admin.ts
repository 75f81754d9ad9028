import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { builtDays, latestBuiltDay, readManifest } from '../../audiences/members.js';
import type { LoadedConfig } from '../../config/load-config.js';
import type { AudienceSyncConfig } from '../../config-file.js';
import { isDay } from '../../contract/days.js';
import { log } from '../../log.js';
import { readLiftReport } from '../../measure/report.js';
import { enqueueRefresh, getRunStatus, type PipelineConnection } from '../../pipeline/flow.js';
import { planTarget } from '../../pipeline/plan-report.js';
import { lastCompleteDayIn, type StageContext } from '../../pipeline/stages.js';
import { syncTargets } from '../../pipeline/targets.js';
import { errorResponses, HttpError } from '../http-errors.js';
import { adminAccess } from '../plugins/auth.js';

/**
 * Read / operate routes (docs/http-api.md, "Read / operate"), behind `ADMIN_API_KEYS`: audiences with their
 * latest manifest, runs (start and follow), plan, lift. Plans and manifests carry customer ids
 * and counts, never identifiers.
 */
export interface AdminRoutesOptions {
  /** Loads the configuration (again on each call: an edited file applies without a restart). */
  loadConfig: () => Promise<LoadedConfig<AudienceSyncConfig>>;
  /** BullMQ connection for runs; without it `POST /v1/runs` answers 503. */
  pipeline?: PipelineConnection;
  /** Requests per minute per admin key (or client address). */
  rateLimitPerMinute?: number;
}

const day = z.string().refine(isDay, 'must be a day as YYYY-MM-DD');
const audienceParams = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'invalid audience id'),
});
const loose = z.looseObject({});

const audienceSummary = z.object({
  id: z.string(),
  type: z.enum(['segment', 'top_fraction']),
  description: z.string().optional(),
  destinations: z.array(z.string()),
  latest_day: z.string().nullable(),
  counts: loose.nullable(),
});

const runStatus = z.object({
  id: z.string(),
  state: z.string(),
  day: z.string(),
  dry_run: z.boolean(),
  stages: z.array(
    z.object({
      name: z.string(),
      id: z.string(),
      state: z.string(),
      progress: z.unknown(),
      failed_reason: z.string().optional(),
    }),
  ),
  result: z.unknown().optional(),
  failed_reason: z.string().optional(),
});

export const adminRoutes: FastifyPluginAsyncZod<AdminRoutesOptions> = async (app, options) => {
  const { auth, config } = adminAccess(app.env.ADMIN_API_KEYS, options.rateLimitPerMinute);
  const stageContext = async (): Promise<StageContext> => ({
    store: app.store,
    loaded: await options.loadConfig(),
    env: app.env,
    log,
  });
  const audienceOf = async (id: string) => {
    const loaded = await options.loadConfig();
    const audience = loaded.config.audiences.find((a) => a.id === id);
    if (!audience) throw new HttpError(404, 'not_found', `audience ${id} is not configured`);
    return { loaded, audience };
  };

  app.get(
    '/v1/audiences',
    {
      onRequest: auth,
      config,
      schema: {
        response: { 200: z.object({ audiences: z.array(audienceSummary) }), ...errorResponses(401) },
      },
    },
    async () => {
      const loaded = await options.loadConfig();
      const audiences = [];
      for (const a of loaded.config.audiences) {
        const latest = await latestBuiltDay(app.store, a.id);
        const manifest = latest ? await readManifest(app.store, a.id, latest) : undefined;
        audiences.push({
          id: a.id,
          type: a.type,
          ...(a.description ? { description: a.description } : {}),
          destinations: syncTargets([a]).map((t) => t.destination),
          latest_day: latest ?? null,
          counts: manifest ? (manifest.counts as unknown as Record<string, unknown>) : null,
        });
      }
      return { audiences };
    },
  );

  app.get(
    '/v1/audiences/:id',
    {
      onRequest: auth,
      config,
      schema: {
        params: audienceParams,
        querystring: z.object({ date: day.optional() }),
        response: {
          200: z.object({ id: z.string(), days: z.array(z.string()), manifest: loose.nullable() }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const { audience } = await audienceOf(request.params.id);
      const days = await builtDays(app.store, audience.id);
      const at = request.query.date ?? days.at(-1);
      const manifest = at ? await readManifest(app.store, audience.id, at) : undefined;
      if (request.query.date && !manifest)
        throw new HttpError(
          404,
          'not_found',
          `audience ${audience.id} was not built for ${request.query.date}`,
        );
      return { id: audience.id, days, manifest: (manifest as unknown as Record<string, unknown>) ?? null };
    },
  );

  app.get(
    '/v1/audiences/:id/plan',
    {
      onRequest: auth,
      config,
      schema: {
        params: audienceParams,
        querystring: z.object({
          date: day.optional(),
          destination: z.string().optional(),
          rows: z.enum(['true', 'false']).optional(),
        }),
        response: {
          200: z.object({ audience: z.string(), day: z.string(), plans: z.array(loose) }),
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request) => {
      const { audience } = await audienceOf(request.params.id);
      const at = request.query.date ?? (await latestBuiltDay(app.store, audience.id));
      if (!at) throw new HttpError(409, 'not_built', `audience ${audience.id} has not been built yet`);
      const ctx = await stageContext();
      const targets = syncTargets([audience]).filter(
        (t) => !request.query.destination || t.destination === request.query.destination,
      );
      if (request.query.destination && targets.length === 0) {
        throw new HttpError(
          404,
          'not_found',
          `audience ${audience.id} does not sync to ${request.query.destination}`,
        );
      }
      const plans = [];
      for (const target of targets)
        plans.push(await planTarget(ctx, at, target, request.query.rows === 'true'));
      return { audience: audience.id, day: at, plans };
    },
  );

  app.get(
    '/v1/audiences/:id/lift',
    {
      onRequest: auth,
      config,
      schema: {
        params: audienceParams,
        querystring: z.object({ as_of: day.optional() }),
        response: { 200: loose, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const { audience } = await audienceOf(request.params.id);
      const found = await readLiftReport(app.store, audience.id, request.query.as_of);
      if (!found) {
        const when = request.query.as_of ? ` on ${request.query.as_of}` : ' yet';
        throw new HttpError(404, 'not_found', `no lift report for ${audience.id}${when}`);
      }
      const accept = String(request.headers.accept ?? '');
      if (/text\/html/.test(accept) && !/application\/json/.test(accept)) {
        const html = (await app.store.get(found.htmlKey)).toString('utf8');
        // The HTML page is not described by the JSON schema: send it raw.
        return reply
          .type('text/html; charset=utf-8')
          .serializer((s: unknown) => s as string)
          .send(html as never);
      }
      return found.report as unknown as Record<string, unknown>;
    },
  );

  app.post(
    '/v1/runs',
    {
      onRequest: auth,
      config,
      schema: {
        body: z
          .strictObject({
            date: day.optional(),
            audiences: z.array(audienceParams.shape.id).min(1).optional(),
            dry_run: z.boolean().optional(),
            force: z.boolean().optional(),
          })
          .optional(),
        response: {
          202: z.object({ run_id: z.string(), created: z.boolean(), day: z.string() }),
          ...errorResponses(400, 401, 404, 503),
        },
      },
    },
    async (request, reply) => {
      if (!options.pipeline)
        throw new HttpError(503, 'unavailable', 'runs need Redis (the queue) and it is not configured');
      const body = request.body ?? {};
      const loaded = await options.loadConfig();
      for (const id of body.audiences ?? []) {
        if (!loaded.config.audiences.some((a) => a.id === id))
          throw new HttpError(404, 'not_found', `audience ${id} is not configured`);
      }
      const runDay = body.date ?? lastCompleteDayIn(loaded.config.schedule.timezone);
      let result: { runId: string; created: boolean };
      try {
        result = await enqueueRefresh(options.pipeline, {
          day: runDay,
          ...(body.audiences ? { audienceIds: body.audiences } : {}),
          ...(body.dry_run ? { dryRun: true } : {}),
          ...(body.force ? { attempt: Date.now().toString(36) } : {}),
        });
      } catch {
        throw new HttpError(503, 'unavailable', 'the queue is unavailable; try again shortly', {
          'retry-after': '5',
        });
      }
      return reply.code(202).send({ run_id: result.runId, created: result.created, day: runDay });
    },
  );

  app.get(
    '/v1/runs/:id',
    {
      onRequest: auth,
      config,
      schema: {
        params: z.object({ id: z.string().regex(/^[A-Za-z0-9_.+-]{1,200}$/, 'invalid run id') }),
        response: { 200: runStatus, ...errorResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      if (!options.pipeline)
        throw new HttpError(503, 'unavailable', 'runs need Redis (the queue) and it is not configured');
      const status = await getRunStatus(options.pipeline, request.params.id);
      if (!status) throw new HttpError(404, 'not_found', `run ${request.params.id} does not exist`);
      return status;
    },
  );
};
