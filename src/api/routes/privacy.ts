import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { log } from '../../log.js';
import { enqueueErasure, type PipelineConnection } from '../../pipeline/flow.js';
import {
  createErasure,
  ERASURE_ID_RE,
  type ErasureRecord,
  InvalidErasureRequestError,
  readErasure,
} from '../../privacy/erasure.js';
import { errorResponses, HttpError } from '../http-errors.js';
import { adminAccess } from '../plugins/auth.js';

/**
 * Erasure requests (docs/privacy.md), behind `ADMIN_API_KEYS`. A request names the person by any of
 * customer id, email and phone; what is stored and answered are their hashes only. The work runs
 * as a job on the `privacy-erasure` queue, so the API needs the queue (503 without Redis).
 */
export interface PrivacyRoutesOptions {
  pipeline?: PipelineConnection;
  rateLimitPerMinute?: number;
}

const hashes = z.object({
  customer_id: z.array(z.string()),
  email: z.array(z.string()),
  phone: z.array(z.string()),
});

/** The audit entry as the API shows it: the stored record, field for field. */
const erasureView = z.looseObject({
  id: z.string(),
  status: z.string(),
  source: z.string(),
  requested_at: z.string(),
  requested: hashes,
  objects_rewritten: z.array(z.object({ key: z.string(), removed: z.number() })),
  updated_at: z.string(),
});

const body = z
  .strictObject({
    customer_id: z.string().trim().min(1).max(256).optional(),
    email: z.string().trim().min(1).max(320).optional(),
    phone: z.string().trim().min(1).max(40).optional(),
  })
  .refine((b) => b.customer_id || b.email || b.phone, {
    message: 'name the person by at least one of customer_id, email, phone',
  });

export const privacyRoutes: FastifyPluginAsyncZod<PrivacyRoutesOptions> = async (app, options) => {
  const { auth, config } = adminAccess(app.env.ADMIN_API_KEYS, options.rateLimitPerMinute);

  app.post(
    '/v1/privacy/erasures',
    {
      onRequest: auth,
      config,
      schema: {
        body,
        response: {
          202: z.object({ id: z.string(), status: z.string(), status_url: z.string() }),
          ...errorResponses(400, 401, 503),
        },
      },
    },
    async (request, reply) => {
      if (!options.pipeline) throw new HttpError(503, 'unavailable', 'erasures need the queue (Redis)');
      let record: ErasureRecord;
      try {
        record = await createErasure(app.store, request.body, 'api');
      } catch (error) {
        if (error instanceof InvalidErasureRequestError)
          throw new HttpError(400, 'bad_request', error.message);
        throw error;
      }
      try {
        await enqueueErasure(options.pipeline, record.id);
      } catch {
        throw new HttpError(
          503,
          'unavailable',
          `the queue is unavailable; erasure ${record.id} is stored, retry to queue it`,
        );
      }
      log.info({ erasure_id: record.id }, 'erasure requested');
      return reply
        .code(202)
        .send({ id: record.id, status: record.status, status_url: `/v1/privacy/erasures/${record.id}` });
    },
  );

  app.get(
    '/v1/privacy/erasures/:id',
    {
      onRequest: auth,
      config,
      schema: {
        params: z.object({ id: z.string().regex(ERASURE_ID_RE, 'not an erasure id') }),
        response: { 200: erasureView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const record = await readErasure(app.store, request.params.id);
      if (!record) throw new HttpError(404, 'not_found', `no erasure ${request.params.id}`);
      return record as unknown as z.infer<typeof erasureView>;
    },
  );
};
