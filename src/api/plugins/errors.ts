import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { BufferUnavailableError } from '../../ingest/buffer.js';
import { type ErrorResponse, HttpError } from '../http-errors.js';

/**
 * One error handler for the whole app. It never echoes request data: JSON parse errors in Node
 * quote the input, validation messages may quote values, and either could be an email address.
 */
export const RETRY_AFTER_SECONDS = 5;

const PARSER_ERRORS: Readonly<Record<string, [number, string, string]>> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json', 'body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json', 'body is empty'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'send the body as application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_request', 'content-length does not match the body'],
};

export const errorHandlerPlugin = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const send = (status: number, body: Omit<ErrorResponse, 'statusCode'>) =>
        reply.code(status).send({ statusCode: status, ...body });

      if (error instanceof HttpError) {
        reply.headers(error.headers);
        return send(error.statusCode, { error: error.error, message: error.message });
      }
      if (error instanceof BufferUnavailableError) {
        request.log.warn({ reason: error.message }, 'ingest refused: buffer unavailable');
        reply.header('retry-after', String(RETRY_AFTER_SECONDS));
        return send(503, {
          error: 'buffer_unavailable',
          message: 'the ingest buffer is unavailable; nothing was accepted, retry later',
          accepted: 0,
        });
      }
      if (hasZodFastifySchemaValidationErrors(error)) {
        return send(400, {
          error: 'invalid_request',
          message: 'request does not match the documented shape',
          issues: error.validation.map((v) => ({
            path: v.instancePath.replace(/^\//, '').replaceAll('/', '.'),
            code: String(v.keyword),
          })),
        });
      }
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return send(413, {
          error: 'payload_too_large',
          message: 'body is larger than the limit for this endpoint',
        });
      }
      const mapped = error.code ? PARSER_ERRORS[error.code] : undefined;
      if (mapped) return send(mapped[0], { error: mapped[1], message: mapped[2] });
      if (error instanceof SyntaxError)
        return send(400, { error: 'invalid_json', message: 'body is not valid JSON' });
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) {
        // Fastify's own client errors (bad headers, unsupported methods): the code says enough.
        return send(status, { error: 'bad_request', message: `request refused (${error.code ?? status})` });
      }
      // Only the type and code: messages of unexpected errors may quote data.
      request.log.error(
        { errorType: error.name, code: error.code, stack: error.stack?.split('\n')[1]?.trim() },
        'unhandled error',
      );
      return send(500, { error: 'internal_error', message: 'internal error' });
    });

    // The path is not echoed: query strings can carry personal data.
    app.setNotFoundHandler((_request, reply) => {
      reply
        .code(404)
        .send({ statusCode: 404, error: 'not_found', message: 'no route for this method and path' });
    });
  },
  { name: 'audience-sync-errors' },
);
