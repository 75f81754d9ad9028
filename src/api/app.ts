import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  LogController,
  type RawServerDefault,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.js';
import { IngestBuffer } from '../ingest/buffer.js';
import { log as defaultLogger, type Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { openStore } from '../storage/open-store.js';
import { errorHandlerPlugin } from './plugins/errors.js';
import { createIngestRedis } from './redis-client.js';
import { healthRoutes } from './routes/health.js';
import { ingestRoutes } from './routes/ingest.js';
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
 * `store`, `redis`, `ingestBuffer`, `requestExport`), so other parts add their routes (admin,
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
  app.decorate(
    'ingestBuffer',
    new IngestBuffer({
      redis,
      prefix: options.redisPrefix ?? env.QUEUE_PREFIX,
      dedupeHours: env.INGEST_DEDUPE_HOURS,
    }),
  );
  app.decorate('requestExport', options.requestExport ?? (() => {}));
  app.decorate('eventAliases', options.eventAliases ?? {});
  app.decorateRequest('cioSignatureVerified', false);
  app.addHook('onClose', async () => {
    if (ownsRedis) redis.disconnect();
    if (ownsStore) await store.close();
  });

  await app.register(errorHandlerPlugin);
  await app.register(healthRoutes);
  await app.register(ingestRoutes);
  await app.register(webhookRoutes);
  return app;
}
