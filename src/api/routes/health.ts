import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LAYOUT_KEY } from '../../storage/keys.js';

/**
 * `/healthz`: the process is up (liveness). `/readyz`: it can do its job — Redis answers (ingest
 * buffers there) and the object store is reachable (readiness). Both are open, without auth.
 */
const CHECK_TIMEOUT_MS = 2_000;

const readiness = z.object({
  status: z.enum(['ready', 'not_ready']),
  checks: z.object({ redis: z.string(), store: z.string() }),
});

export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/healthz', { schema: { response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { response: { 200: readiness, 503: readiness } } },
    async (_request, reply) => {
      const [redis, store] = await Promise.all([
        check(async () => {
          if ((await app.redis.ping()) !== 'PONG') throw new Error('unexpected reply');
        }),
        check(async () => {
          await app.store.exists(LAYOUT_KEY);
        }),
      ]);
      const ready = redis === 'ok' && store === 'ok';
      return reply
        .code(ready ? 200 : 503)
        .send({ status: ready ? 'ready' : 'not_ready', checks: { redis, store } });
    },
  );
};

async function check(fn: () => Promise<void>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    // A short reason only: driver messages can carry hostnames, never request data.
    return `unavailable: ${error instanceof Error && /timed out/.test(error.message) ? 'timed out' : 'error'}`;
  } finally {
    clearTimeout(timer);
  }
}
