import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BufferUnavailableError } from '../../ingest/buffer.js';
import { createDropInChecker, type DropInMessage, describeProblems } from '../../ingest/drop-in.js';
import {
  eventMessage,
  identifyMessage,
  type PersonAction,
  personActionMessage,
  v2EntryMessage,
} from '../../ingest/track-api.js';
import { HttpError } from '../http-errors.js';
import { RETRY_AFTER_SECONDS } from '../plugins/errors.js';
import {
  acceptEmptyJson,
  basicCredentials,
  gunzipBody,
  ingestDropIn,
  ingestKeyMatcher,
  jsonOnly,
  limitJsonDepth,
} from './drop-in-common.js';

/**
 * Customer.io Track API compatibility, so `customerio-node`'s `TrackClient` (and any Track API
 * caller) can point its base URL here unchanged.
 *
 * v1 answers like Customer.io: `200 {}` on success, errors as `{meta: {error}}` (or `{meta: {errors}}`
 * for several reasons). A v1 call carries one message, so a rejected one is answered 400 and not
 * stored. v2 answers `200 {}`, `207 {errors: [{batch_index, reason, field, message}]}` when some
 * entries of a batch were refused (those are quarantined: the batch was taken), and 400 for a
 * refused entity. Authentication is HTTP Basic `site_id:api_key`, the API key one of `API_KEYS`.
 */

const CHALLENGE = { 'www-authenticate': 'Basic realm="audience-sync track api"' };
const identifierParams = z.object({ identifier: z.string().min(1).max(256) });
const jsonObject = z.record(z.string(), z.unknown());
const v2Batch = z.object({ batch: z.array(z.unknown()) }).loose();

export const trackApiRoutes: FastifyPluginAsyncZod = async (app) => {
  const { env } = app;
  const isIngestKey = ingestKeyMatcher(env.API_KEYS);
  const check = createDropInChecker({ eventAliases: app.eventAliases });
  acceptEmptyJson(app);
  jsonOnly(app);
  app.addHook('preParsing', gunzipBody);
  app.addHook('preValidation', limitJsonDepth);

  // Customer.io's error shape for everything in this scope, status codes as the global handler's.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const v2 = request.url.startsWith('/api/v2/');
    const send = (status: number, message: string, reason = 'invalid') =>
      reply.code(status).send(v2 ? { errors: [{ reason, message }] } : { meta: { error: message } });
    if (error instanceof HttpError) {
      reply.headers(error.headers);
      return send(error.statusCode, error.message, error.error);
    }
    if (error instanceof BufferUnavailableError) {
      request.log.warn({ reason: error.message }, 'track api refused: buffer unavailable');
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return send(503, 'the ingest buffer is unavailable; nothing was accepted, retry later', 'unavailable');
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return send(413, 'request body is too large', 'too_large');
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return send(415, 'send the body as application/json', 'unsupported_media_type');
    if (error.validation) return send(400, 'request body does not match the documented shape');
    if (error instanceof SyntaxError || error.code?.startsWith('FST_ERR_CTP_'))
      return send(400, 'body is not valid JSON', 'invalid_json');
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) return send(status, 'request refused');
    request.log.error({ errorType: error.name, code: error.code }, 'unhandled error');
    return send(500, 'internal error', 'internal');
  });

  // Credentials before the body is read (DESIGN "HTTP API").
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const credentials = basicCredentials(request);
    if (!credentials || !isIngestKey(credentials.password)) {
      throw new HttpError(401, 'unauthorized', 'Unauthorized request', CHALLENGE);
    }
  });

  /** One v1 message: 200 `{}` when taken (or a duplicate), 400 with the reasons when refused. */
  const one = async (message: DropInMessage, reply: FastifyReply, receivedAt?: string) => {
    const result = await ingestDropIn(app, [message], check, {
      quarantineRejected: false,
      request: reply.request,
      ...(receivedAt ? { receivedAt } : {}),
    });
    const item = result.results[0]!;
    if (item.status === 'rejected') {
      const errors = describeProblems(item.problems ?? []);
      return reply
        .code(400)
        .send(errors.length === 1 ? { meta: { error: errors[0] } } : { meta: { errors } });
    }
    return reply.code(200).send({});
  };
  const receivedNow = () => new Date().toISOString();
  const v1 = { params: identifierParams };

  app.put('/api/v1/customers/:identifier', { schema: { ...v1, body: jsonObject } }, (request, reply) =>
    one(identifyMessage(request.params.identifier, request.body), reply),
  );
  app.delete('/api/v1/customers/:identifier', { schema: v1 }, (request, reply) => {
    const receivedAt = receivedNow();
    return one(personActionMessage(request.params.identifier, 'delete', receivedAt), reply, receivedAt);
  });
  for (const action of ['suppress', 'unsuppress'] as const satisfies readonly PersonAction[]) {
    app.post(`/api/v1/customers/:identifier/${action}`, { schema: v1 }, (request, reply) => {
      const receivedAt = receivedNow();
      return one(personActionMessage(request.params.identifier, action, receivedAt), reply, receivedAt);
    });
  }
  app.post(
    '/api/v1/customers/:identifier/events',
    { schema: { ...v1, body: jsonObject } },
    (request, reply) => one(eventMessage(request.params.identifier, request.body), reply),
  );
  app.post('/api/v1/events', { schema: { body: jsonObject } }, (request, reply) =>
    one(eventMessage(undefined, request.body), reply),
  );

  app.post('/api/v2/entity', { schema: { body: jsonObject } }, async (request, reply) => {
    const receivedAt = receivedNow();
    const result = await ingestDropIn(app, [v2EntryMessage(request.body, receivedAt)], check, {
      quarantineRejected: false,
      request,
      receivedAt,
    });
    const item = result.results[0]!;
    if (item.status === 'rejected') return reply.code(400).send({ errors: v2Errors(item.problems ?? []) });
    return reply.code(200).send({});
  });

  app.post('/api/v2/batch', { schema: { body: v2Batch } }, async (request, reply) => {
    const entries = request.body.batch;
    if (entries.length > env.INGEST_MAX_BATCH) {
      throw new HttpError(413, 'too_large', `batch has more than ${env.INGEST_MAX_BATCH} entries`);
    }
    const receivedAt = receivedNow();
    const messages = entries.map((entry) => v2EntryMessage(entry, receivedAt));
    const result = await ingestDropIn(app, messages, check, {
      quarantineRejected: true,
      receivedAt,
      request,
    });
    const errors = result.results
      .filter((r) => r.status === 'rejected')
      .flatMap((r) => v2Errors(r.problems ?? []).map((e) => ({ batch_index: r.index, ...e })));
    if (errors.length === 0) return reply.code(200).send({});
    return reply.code(207).send({ errors });
  });
};

function v2Errors(problems: readonly { code: string; path: string; message: string }[]) {
  return problems.map((p) => ({ reason: p.code, field: p.path, message: p.message }));
}
