import { z } from 'zod';

/**
 * Errors the API answers with. Messages are written by us and never contain request data, so the
 * error handler can send them as they are; anything else becomes a generic message.
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly error: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const problemSchema = z.object({ code: z.string(), path: z.string(), message: z.string() });

export const errorResponse = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  /** Validation issues: field paths and codes only, never the values. */
  issues: z.array(z.object({ path: z.string(), code: z.string() })).optional(),
  accepted: z.literal(0).optional(),
});
export type ErrorResponse = z.infer<typeof errorResponse>;

/** Every error status a route may answer with, for its response schema. */
export function errorResponses<const S extends readonly number[]>(
  ...statuses: S
): Record<S[number], typeof errorResponse> {
  return Object.fromEntries(statuses.map((s) => [s, errorResponse])) as Record<
    S[number],
    typeof errorResponse
  >;
}

/**
 * For the hot ingest routes: the response schemas still document the answers (OpenAPI), but the
 * bodies are built by our own code from typed values, so re-validating every per-item result
 * with zod on the way out (about a microsecond per item) buys nothing. Plain JSON.stringify.
 */
export function plainJsonSerializer(): (data: unknown) => string {
  return (data) => JSON.stringify(data);
}
