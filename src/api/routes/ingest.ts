import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Dataset } from '../../contract/records.js';
import { ingestItems } from '../../ingest/ingest.js';
import { isSegmentBody } from '../../ingest/segment.js';
import { createIdentifyChecker, createTrackChecker, type ItemChecker } from '../../ingest/track.js';
import { errorResponses, HttpError, plainJsonSerializer, problemSchema } from '../http-errors.js';
import { erasedPeople } from '../suppression.js';
import {
  gunzipBody,
  jsonOnly,
  limitJsonDepth,
  logSuppressed,
  noteIngestOutcomes,
  requireIngestKey,
  triggerEarlyExports,
} from './drop-in-common.js';
import { answerSegment, segmentAnswer } from './segment.js';

/**
 * `POST /v1/track` and `POST /v1/identify`: one item or `{batch: [...]}`, answered per item.
 * 202 when at least one item was accepted (or was a duplicate), 422 when every item was rejected
 * (an item about an erased person is rejected with the problem `erased_person`),
 * 400 only for a broken envelope (or one nested deeper than MAX_JSON_DEPTH), 413 for bodies or batches over the limits, 503 when the buffer
 * cannot take the records (then nothing was accepted).
 */

const envelope = z.union([
  z.object({ batch: z.array(z.unknown()) }).loose(),
  z.record(z.string(), z.unknown()).refine((o) => !('batch' in o), { message: 'batch must be an array' }),
]);

const itemResult = z.object({
  index: z.number().int(),
  status: z.enum(['accepted', 'duplicate', 'rejected']),
  id: z.string().optional(),
  problems: z.array(problemSchema).optional(),
});

const ingestResponse = z.object({
  accepted: z.number().int(),
  duplicates: z.number().int(),
  rejected: z.number().int(),
  results: z.array(itemResult),
});

export const ingestRoutes: FastifyPluginAsyncZod = async (app) => {
  const { env } = app;
  jsonOnly(app);
  // Bearer for the project's own shapes; HTTP Basic with the write key for Segment SDKs.
  const auth = requireIngestKey(env.API_KEYS, 'Bearer realm="audience-sync"');
  const routes: [string, ItemChecker, 'track' | 'identify', Dataset][] = [
    ['/v1/track', createTrackChecker({ eventAliases: app.eventAliases }), 'track', 'events'],
    ['/v1/identify', createIdentifyChecker(), 'identify', 'people'],
  ];
  for (const [url, check, segmentType, dataset] of routes) {
    app.post(
      url,
      {
        onRequest: auth,
        preParsing: gunzipBody,
        preValidation: limitJsonDepth,
        bodyLimit: env.INGEST_MAX_BODY_BYTES,
        serializerCompiler: plainJsonSerializer,
        schema: {
          body: envelope,
          response: {
            200: segmentAnswer,
            202: ingestResponse,
            422: ingestResponse,
            ...errorResponses(400, 401, 413, 415, 503),
          },
        },
      },
      async (request, reply) => {
        const body = request.body;
        // Segment-spec calls (userId / anonymousId / messageId / traits ...) answer the Segment way.
        if (isSegmentBody(body)) return answerSegment(app, reply, [body], { type: segmentType });
        const items = Array.isArray(body.batch) ? body.batch : [body];
        if (items.length > env.INGEST_MAX_BATCH) {
          throw new HttpError(413, 'batch_too_large', `batch has more than ${env.INGEST_MAX_BATCH} items`);
        }
        const summary = await ingestItems(items, check, app.ingestBuffer, {
          suppression: await erasedPeople(app),
        });
        noteIngestOutcomes(
          request,
          summary.results.map((r) => [dataset, r.status]),
        );
        triggerEarlyExports(app, summary);
        logSuppressed(app, { route: url }, summary);
        const nothingTaken = summary.accepted === 0 && summary.duplicates === 0 && items.length > 0;
        return reply.code(nothingTaken ? 422 : 202).send({
          accepted: summary.accepted,
          duplicates: summary.duplicates,
          rejected: summary.rejected,
          results: summary.results,
        });
      },
    );
  }
};
