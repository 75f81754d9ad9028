import type { FastifyInstance } from 'fastify';
import type { SuppressionList } from '../privacy/suppression.js';
import { HttpError } from './http-errors.js';
import { RETRY_AFTER_SECONDS } from './plugins/errors.js';

/**
 * The erased people as the ingest routes check them: the app's SuppressionCache (refreshed every
 * 30 s, at once after `invalidate()`). The cache keeps its last good list when a refresh fails; if
 * it never loaded one (the store was unreachable since the start), ingest answers 503 with
 * Retry-After and stores nothing, rather than accept records it cannot check.
 */
export async function erasedPeople(app: FastifyInstance): Promise<SuppressionList> {
  try {
    return await app.suppression.get();
  } catch (error) {
    app.log.warn({ errorType: (error as Error)?.name }, 'ingest refused: suppression list unavailable');
    throw new HttpError(
      503,
      'suppression_unavailable',
      'the list of erased people could not be read; nothing was accepted, retry later',
      { 'retry-after': String(RETRY_AFTER_SECONDS) },
    );
  }
}
