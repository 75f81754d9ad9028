import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { AudienceSyncConfig } from '../../config-file.js';
import {
  type CollectorSources,
  createCollector,
  defaultMetrics,
  type Metrics,
} from '../../health/metrics.js';
import { queueNames } from '../../pipeline/queues.js';
import { createRedisClient } from '../../redis/clients.js';

/**
 * `GET /metrics` (open, Prometheus text format) plus the in-process counters: HTTP requests by
 * route pattern and status, and ingest outcomes by dataset — what every route that takes data in
 * noted on its request (`noteIngestOutcomes`: own shapes, Segment and Track API drop-ins, webhook),
 * counted once the request is answered. Labels use the route *pattern*
 * (`/v1/audiences/:id`), never the raw URL: paths and query strings can carry personal data.
 *
 * Register it before the routes it should count.
 */
export interface MetricsPluginOptions {
  /** Defaults to the process-wide metrics. */
  metrics?: Metrics;
  /** The audience configuration, for audience and sync gauges (read again when the cache expires). */
  loadConfig?: () => Promise<Pick<AudienceSyncConfig, 'audiences' | 'destinations'>>;
  /**
   * BullMQ connection and prefix for queue gauges. Default: a connection of the plugin's own to
   * `REDIS_URL` with `QUEUE_PREFIX`; `false` turns queue gauges off. The queues counted are the
   * pipeline's (`queueNames`), or `names` when given.
   */
  queues?: { connection: Redis; prefix: string; names?: readonly string[] } | false;
  /** Key prefix of the ingest buffer (default: the one `ingestBuffer` uses). */
  redisPrefix?: string;
  ttlMs?: number;
}

export const metricsPlugin = fp(
  async (app: FastifyInstance, options: MetricsPluginOptions) => {
    const metrics = options.metrics ?? defaultMetrics();

    let ownQueueConnection: Redis | undefined;
    let queues: CollectorSources['queues'];
    if (options.queues) {
      const { connection, prefix, names } = options.queues;
      queues = { connection, prefix, names: names ? () => names : queueNames };
    } else if (options.queues !== false) {
      // Its own short-command connection: a scrape reads queue counts and must not wait for Redis.
      ownQueueConnection = createRedisClient(app.env.REDIS_URL, 'command', {
        label: 'metrics queue gauges',
        logger: app.log,
      });
      queues = { connection: ownQueueConnection, prefix: app.env.QUEUE_PREFIX, names: queueNames };
    }
    const collector = createCollector(metrics, {
      store: app.store,
      redis: app.redis,
      redisPrefix: options.redisPrefix ?? redisPrefixOf(app),
      ...(options.loadConfig ? { loadConfig: options.loadConfig } : {}),
      ...(queues ? { queues } : {}),
      ...(options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {}),
    });

    app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      for (const { dataset, status, n } of request.ingestOutcomes ?? [])
        metrics.recordIngest(dataset, status, n);
      const route = request.routeOptions.url ?? 'unmatched';
      const method = request.method;
      metrics.httpRequests.inc({ method, route, status_code: String(reply.statusCode) });
      metrics.httpDuration.observe({ method, route }, reply.elapsedTime / 1000);
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      await collector.refresh();
      const text = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(text);
    });

    app.addHook('onClose', async () => {
      await collector.close();
      ownQueueConnection?.disconnect();
    });
  },
  { name: 'audience-sync-metrics' },
);

function redisPrefixOf(app: FastifyInstance): string | undefined {
  // The buffer's stream key is `<prefix>:ingest:stream:<dataset>`.
  const stream = app.ingestBuffer?.keys.stream('events');
  return stream?.slice(0, stream.indexOf(':ingest:stream:'));
}
