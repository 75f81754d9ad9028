import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isObject } from '../../ingest/items.js';
import { exceedsJsonDepth } from '../../ingest/json-limits.js';
import {
  checkSignatureHeaders,
  SIGNATURE_FAILURE_MESSAGES,
  type SignatureFailure,
  signatureMatches,
} from '../../ingest/signature.js';
import { webhookItem } from '../../ingest/webhook.js';
import { linesSuppressed } from '../../privacy/suppression-check.js';
import { errorResponses, HttpError } from '../http-errors.js';
import { erasedPeople } from '../suppression.js';
import { logSuppressed, noteIngestOutcomes, tooDeep, triggerEarlyExports } from './drop-in-common.js';

/**
 * `POST /v1/webhooks/customerio`: Customer.io reporting webhooks, one event per request.
 *
 * Authentication is the HMAC signature over the raw body. Header presence and the replay window are
 * checked in `onRequest` (before the body is read); the HMAC itself is checked by this scope's body
 * parser on the raw bytes, before any JSON parsing. A request that fails either is answered 401 and
 * leaves no trace: nothing is parsed, buffered or logged beyond the reason.
 *
 * Customer.io retries any non-2xx for days and queues later events behind a failing one, so
 * duplicates are answered 200 and the handler only buffers. So is an event about an erased person,
 * `{status: "rejected", code: "erased_person"}`, which is dropped.
 */

/** One reporting event is small; this is generous. */
export const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;

/** `rejected` only for an erased person (`code: erased_person`): still 200, or Customer.io retries. */
const webhookAnswer = z.object({
  status: z.enum(['accepted', 'duplicate', 'rejected']),
  code: z.literal('erased_person').optional(),
});

export const webhookRoutes: FastifyPluginAsyncZod = async (app) => {
  const keys = app.env.CIO_WEBHOOK_SIGNING_KEYS;
  const toleranceSeconds = app.env.INGEST_REPLAY_WINDOW_SECONDS;
  if (keys.length === 0)
    app.log.warn('CIO_WEBHOOK_SIGNING_KEYS is empty: Customer.io webhooks will be refused');

  const refuse = (reason: SignatureFailure) => {
    app.log.info({ reason }, 'customer.io webhook refused');
    return new HttpError(401, 'unauthorized', SIGNATURE_FAILURE_MESSAGES[reason]);
  };
  const headersOf = (request: FastifyRequest) => ({
    timestamp: single(request.headers['x-cio-timestamp']),
    signature: single(request.headers['x-cio-signature']),
  });
  const verify = (request: FastifyRequest, body: Buffer) => {
    const { timestamp, signature } = headersOf(request);
    if (!timestamp || !signature || !signatureMatches(keys, timestamp, signature, body))
      throw refuse('bad_signature');
    request.cioSignatureVerified = true;
  };

  // This scope parses every content type itself: the signature must be checked on the raw bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: WEBHOOK_MAX_BODY_BYTES },
    (request, body, done) => {
      try {
        verify(request, body as Buffer);
      } catch (error) {
        return done(error as Error, undefined);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse((body as Buffer).toString('utf8'));
      } catch {
        return done(new HttpError(400, 'invalid_json', 'body is not valid JSON'), undefined);
      }
      if (exceedsJsonDepth(parsed)) return done(tooDeep(), undefined);
      done(null, parsed);
    },
  );

  app.post(
    '/v1/webhooks/customerio',
    {
      bodyLimit: WEBHOOK_MAX_BODY_BYTES,
      onRequest: async (request) => {
        const failure = checkSignatureHeaders(headersOf(request), { keys, toleranceSeconds });
        if (failure) throw refuse(failure);
      },
      // A request without a body never reaches the parser: its signature is over the empty body.
      preValidation: async (request) => {
        if (!request.cioSignatureVerified) verify(request, Buffer.alloc(0));
      },
      schema: { response: { 200: webhookAnswer, ...errorResponses(400, 401, 413, 415, 503) } },
    },
    async (request) => {
      const payload: unknown = request.body;
      if (!isObject(payload))
        throw new HttpError(400, 'invalid_envelope', 'the body must be one JSON object');
      const item = webhookItem(payload, new Date().toISOString());
      // A retry or a late event about an erased person (the email covers webhooks that name no id).
      if (linesSuppressed(await erasedPeople(app), item.lines)) {
        logSuppressed(app, { route: '/v1/webhooks/customerio' }, { suppressed: 1 });
        noteIngestOutcomes(request, [['messages', 'rejected']]);
        return { status: 'rejected' as const, code: 'erased_person' as const };
      }
      const result = await app.ingestBuffer.add([item]);
      triggerEarlyExports(app, { buffer: result });
      const status = result.statuses[0] ?? 'accepted';
      noteIngestOutcomes(request, [['messages', status]]);
      return { status };
    },
  );
};

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
