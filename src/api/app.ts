import type { IncomingMessage, ServerResponse } from 'node:http';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  LogController,
  type RawServerDefault,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { AudienceSyncConfig } from '../config-file.js';
import { consolePlugin } from '../console/plugin.js';
import { IngestBuffer } from '../ingest/buffer.js';
import { log as defaultLogger, type Logger } from '../log.js';
import type { PipelineConnection } from '../pipeline/flow.js';
import { SuppressionCache } from '../privacy/suppression.js';
import { type RealtimeIngest, realtimeAfterAdd } from '../realtime/tap.js';
import type { ObjectStore } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { registerApiDocs } from './plugins/docs.js';
import { errorHandlerPlugin } from './plugins/errors.js';
import { metricsPlugin } from './plugins/metrics.js';
import { registerQueuesUi } from './plugins/queues-ui.js';
import { createIngestRedis } from './redis-client.js';
import { adminRoutes } from './routes/admin.js';
import { explainRoutes } from './routes/explain.js';
import { healthRoutes } from './routes/health.js';
import { ingestRoutes } from './routes/ingest.js';
import { privacyRoutes } from './routes/privacy.js';
import { segmentRoutes } from './routes/segment.js';
import { trackApiRoutes } from './routes/track-api.js';
import { webhookRoutes } from './routes/webhooks.js';
import type { ExportTrigger } from './types.js';
import './types.js';

export interface BuildAppOptions {
  env: Env;
  /** Defaults to `openStore(env.STORE_URL)`; a store passed in is not closed by the app. */
  store?: ObjectStore;
  /** Defaults to a fail-fast connection to `env.REDIS_URL`; a client passed in is not closed. */
  redis?: Redis;
  logger?: Logger;
  /** Redis key prefix of the ingest buffer; defaults to QUEUE_PREFIX (tests use their own). */
  redisPrefix?: string;
  /** `event_aliases` from the YAML; events are normalized with them when they are checked. */
  eventAliases?: Readonly<Record<string, string>>;
  /** Called when a buffer passes `EXPORT_TRIGGER_RECORDS`; `serve` wires it to the export queue. */
  requestExport?: ExportTrigger;
  /**
   * The read / operate surface: audiences, runs, plans, lift (`ADMIN_API_KEYS`), the queue
   * dashboard and queue metrics. Without it the app serves ingest, health and metrics only.
   */
  operator?: {
    loadConfig: () => Promise<LoadedConfig<AudienceSyncConfig>>;
    /** BullMQ connection and prefix (runs, dashboard, queue gauges). */
    pipeline?: PipelineConnection;
  };
  /** Requests per minute per client on the admin routes (default 300). */
  adminRateLimit?: number;
  /**
   * The erased people ingest refuses; defaults to a cache over `store` refreshed every 30 s. An
   * erasure in this process calls `app.suppression.invalidate()` to apply at once.
   */
  suppression?: SuppressionCache;
  /** Real-time triggers (docs/operations.md): matched on what ingest accepts, queued as signals. */
  realtime?: RealtimeIngest;
}

/** The app with its zod type provider, as route plugins see it. */
export type App = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/**
 * The HTTP API as a factory: routes are plugins, shared services are typed decorators (`env`,
 * `store`, `redis`, `ingestBuffer`, `requestExport`, `suppression`), so other parts add their routes (admin,
 * metrics, docs, Bull Board) as further plugins without touching these. Tests call `app.inject`.
 */
export async function buildApp(options: BuildAppOptions): Promise<App> {
  const { env } = options;
  const logger = options.logger ?? defaultLogger;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request at several thousand requests a second is noise; errors are logged.
    logController: new LogController({ disableRequestLogging: true }),
    // The largest body any route accepts; routes set their own, smaller limits.
    bodyLimit: env.INGEST_MAX_BODY_BYTES,
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const ownsStore = !options.store;
  const ownsRedis = !options.redis;
  const store = options.store ?? openStore(env.STORE_URL, env);
  const redis = options.redis ?? createIngestRedis(env.REDIS_URL, logger);
  app.decorate('env', env);
  app.decorate('store', store);
  app.decorate('redis', redis);
  const afterAdd = options.realtime ? realtimeAfterAdd(options.realtime, logger) : undefined;
  app.decorate(
    'ingestBuffer',
    new IngestBuffer({
      redis,
      prefix: options.redisPrefix ?? env.QUEUE_PREFIX,
      dedupeHours: env.INGEST_DEDUPE_HOURS,
      ...(afterAdd ? { afterAdd } : {}),
    }),
  );
  app.decorate('requestExport', options.requestExport ?? (() => {}));
  app.decorate('eventAliases', options.eventAliases ?? {});
  app.decorate('suppression', options.suppression ?? new SuppressionCache(store));
  app.decorateRequest('cioSignatureVerified', false);
  app.decorateRequest('ingestOutcomes', null);
  // Load the erased people before the first ingest request needs them; a failure is retried then.
  app.addHook('onReady', async () => {
    app.suppression.get().catch(() => {});
  });
  app.addHook('onClose', async () => {
    if (ownsRedis) redis.disconnect();
    if (ownsStore) await store.close();
  });

  await app.register(errorHandlerPlugin);
  // Security headers. The lift page carries its own Content-Security-Policy (it inlines its chart
  // script), and the docs and queue UIs need theirs, so helmet's global CSP stays off.
  await app.register(helmet, { contentSecurityPolicy: false, global: true });
  // Rate limits are per route (`config.rateLimit`): ingest must take bursts, admin routes are capped.
  await app.register(rateLimit, { global: false });
  await registerApiDocs(app);
  await app.register(healthRoutes);
  await app.register(ingestRoutes);
  await app.register(webhookRoutes);
  await app.register(trackApiRoutes);
  await app.register(segmentRoutes);
  const operator = options.operator;
  await app.register(metricsPlugin, {
    ...(operator ? { loadConfig: async () => (await operator.loadConfig()).config } : {}),
    ...(operator?.pipeline ? { queues: operator.pipeline } : { queues: false as const }),
    ...(options.redisPrefix ? { redisPrefix: options.redisPrefix } : {}),
  });
  if (operator) {
    await app.register(adminRoutes, {
      loadConfig: operator.loadConfig,
      ...(operator.pipeline ? { pipeline: operator.pipeline } : {}),
      rateLimitPerMinute: options.adminRateLimit ?? 300,
    });
    await app.register(explainRoutes, {
      loadConfig: operator.loadConfig,
      rateLimitPerMinute: options.adminRateLimit ?? 300,
    });
    await app.register(privacyRoutes, {
      ...(operator.pipeline ? { pipeline: operator.pipeline } : {}),
      rateLimitPerMinute: options.adminRateLimit ?? 300,
    });
    // The operator console (/console): pages behind a session cookie opened with an admin key.
    await app.register(consolePlugin, {
      prefix: '/console',
      loadConfig: operator.loadConfig,
      ...(operator.pipeline ? { pipeline: operator.pipeline } : {}),
    });
    if (operator.pipeline) {
      const destinations = Object.keys((await operator.loadConfig()).config.destinations);
      await registerQueuesUi(app, { pipeline: operator.pipeline, destinations });
    }
  }
  return app;
}
