import type { FastifyInstance, FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createDropInChecker, type DropInChecker } from '../../ingest/drop-in.js';
import { isObject, type Loose } from '../../ingest/items.js';
import { type SegmentType, segmentMessage } from '../../ingest/segment.js';
import { HttpError } from '../http-errors.js';
import { gunzipBody, ingestDropIn, jsonOnly, limitJsonDepth, requireIngestKey } from './drop-in-common.js';

/**
 * Segment-spec HTTP API (what `@segment/analytics-node` and `@customerio/cdp-analytics-node` send
 * when configured with `host`): `POST /v1/batch`, `/v1/page`, `/v1/screen`, `/v1/group`,
 * `/v1/alias` here; `/v1/track` and `/v1/identify` are shared with the project's own shapes and
 * dispatched in routes/ingest.ts.
 *
 * As Segment documents, every well-formed request is answered `200 {"success": true}` (the SDKs do
 * not read per-message answers, and retry anything 5xx); messages that break the data contract are
 * quarantined with their reasons instead of refused. JSON errors are 400, oversized bodies 413.
 * Authentication is HTTP Basic with the write key (one of `API_KEYS`) as the user name.
 * `Content-Encoding: gzip` bodies are inflated.
 */

const SEGMENT_CHALLENGE = 'Basic realm="audience-sync"';
const message = z.record(z.string(), z.unknown());
const batchBody = z.object({ batch: z.array(z.unknown()) }).loose();

export const segmentAnswer = z.object({
  success: z.literal(true),
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
});

/** The checker per app (it holds the configured event aliases). */
const checkers = new WeakMap<FastifyInstance, DropInChecker>();
function checkerOf(app: FastifyInstance): DropInChecker {
  let check = checkers.get(app);
  if (!check) {
    check = createDropInChecker({ eventAliases: app.eventAliases });
    checkers.set(app, check);
  }
  return check;
}

/** Buffers Segment messages and answers the Segment way. Also used by `/v1/track` and `/v1/identify`. */
export async function answerSegment(
  app: FastifyInstance,
  reply: FastifyReply,
  messages: readonly unknown[],
  options: { type?: SegmentType; sentAt?: unknown; context?: unknown } = {},
) {
  if (messages.length > app.env.INGEST_MAX_BATCH) {
    throw new HttpError(413, 'batch_too_large', `batch has more than ${app.env.INGEST_MAX_BATCH} messages`);
  }
  const receivedAt = new Date().toISOString();
  const mapped = messages.map((m) =>
    segmentMessage(withBatchContext(m, options.context), {
      receivedAt,
      sentAt: options.sentAt,
      ...(options.type ? { type: options.type } : {}),
    }),
  );
  // One instant: the skew correction above and the records' received_at must agree.
  const result = await ingestDropIn(app, mapped, checkerOf(app), {
    quarantineRejected: true,
    receivedAt,
    request: reply.request,
  });
  return reply.code(200).send({
    success: true,
    accepted: result.accepted,
    duplicates: result.duplicates,
    rejected: result.rejected,
  });
}

/** A batch-level `context` applies to every message; the message's own keys win. */
function withBatchContext(input: unknown, context: unknown): unknown {
  if (!isObject(input) || !isObject(context)) return input;
  const own: Loose = isObject(input.context) ? input.context : {};
  return { ...input, context: { ...context, ...own } };
}

export const segmentRoutes: FastifyPluginAsyncZod = async (app) => {
  const auth = requireIngestKey(app.env.API_KEYS, SEGMENT_CHALLENGE);
  jsonOnly(app);
  const common = {
    onRequest: auth,
    preParsing: gunzipBody,
    preValidation: limitJsonDepth,
    bodyLimit: app.env.INGEST_MAX_BODY_BYTES,
  };
  app.post(
    '/v1/batch',
    { ...common, schema: { body: batchBody, response: { 200: segmentAnswer } } },
    (request, reply) =>
      answerSegment(app, reply, request.body.batch, {
        sentAt: request.body.sentAt,
        context: request.body.context,
      }),
  );
  for (const type of ['page', 'screen', 'group', 'alias'] as const) {
    app.post(
      `/v1/${type}`,
      { ...common, schema: { body: message, response: { 200: segmentAnswer } } },
      (request, reply) => answerSegment(app, reply, [request.body], { type }),
    );
  }
};
