import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/**
 * The OpenAPI document (`GET /openapi.json`) generated from the routes' zod schemas, and its UI
 * at `/docs`. Registered before the routes, so every route is collected.
 */
export async function registerApiDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'audience-sync',
        description:
          'Ingest (Customer.io webhooks, track / identify), audiences with their latest manifests, runs, plans and lift reports.',
        version: process.env.npm_package_version ?? '0.1.0',
      },
      components: {
        securitySchemes: {
          ingestKey: { type: 'http', scheme: 'bearer', description: 'one of API_KEYS' },
          adminKey: { type: 'http', scheme: 'bearer', description: 'one of ADMIN_API_KEYS' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: false });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
