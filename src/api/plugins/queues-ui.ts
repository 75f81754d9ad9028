import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PipelineConnection } from '../../pipeline/flow.js';
import { queueNames } from '../../pipeline/queues.js';
import { HttpError } from '../http-errors.js';
import { bearerKeyMatcher, bearerToken } from './auth.js';

/**
 * Bull Board at `/admin/queues`, behind `ADMIN_API_KEYS`: a Bearer key, or HTTP Basic with the key
 * as password (what a browser can send). Queues are the refresh stages plus one sync queue per
 * configured destination.
 */
export async function registerQueuesUi(
  app: FastifyInstance,
  options: { pipeline: PipelineConnection; destinations: readonly string[] },
): Promise<Queue[]> {
  const queues = queueNames(options.destinations).map(
    (name) => new Queue(name, { connection: options.pipeline.connection, prefix: options.pipeline.prefix }),
  );
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath('/admin/queues');
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });
  const matches = bearerKeyMatcher(app.env.ADMIN_API_KEYS);
  const allowed = app.env.ADMIN_API_KEYS.length > 0;
  await app.register(async (scope) => {
    scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const key = bearerToken(request) ?? basicPassword(request);
      if (!allowed || !key || !matches(key)) {
        reply.header('www-authenticate', 'Basic realm="audience-sync admin", charset="UTF-8"');
        throw new HttpError(401, 'unauthorized', 'admin credentials required');
      }
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: '/admin/queues' });
  });
  app.addHook('onClose', async () => {
    await Promise.all(queues.map((q) => q.close()));
  });
  return queues;
}

function basicPassword(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : undefined;
}
