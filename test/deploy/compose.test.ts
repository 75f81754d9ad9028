import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_NAMES, parseEnv } from '../../src/config/env.js';
import { parseStoreUrl } from '../../src/storage/open-store.js';

/**
 * No Docker engine runs here, so the deployment files are checked statically against the code:
 * services exist, the environment uses only names the code knows, and the values parse.
 */
const root = new URL('../../', import.meta.url);
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8'));
const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');

/** `${NAME:-default}` → default, as docker compose would substitute with nothing set. */
function substituteDefaults(value: string): string {
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::?-([^}]*))?\}/g,
    (_m, _name, def: string | undefined) => def ?? '',
  );
}

function serviceEnv(name: string): Record<string, string> {
  const env = compose.services[name].environment as Record<string, string | number>;
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, substituteDefaults(String(v))]));
}

function hostOf(url: string): string {
  return new URL(url).hostname;
}

describe('docker-compose.yml', () => {
  it('has redis, minio with bucket creation, api and worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'minio', 'minio-init', 'redis', 'worker']);
    expect(compose.services.api.command).toEqual(['serve']);
    expect(compose.services.worker.command).toEqual(['worker']);
  });

  it('runs Redis with noeviction and AOF fsynced before every answer, as BullMQ and ingest require', () => {
    const command: string[] = compose.services.redis.command;
    expect(command[command.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    // everysec lost acknowledged ingest in the fault suite's Redis restart (docs/reliability.md).
    expect(command[command.indexOf('--appendfsync') + 1]).toBe('always');
  });

  it.each(['api', 'worker'])(
    '%s environment uses only names the code or the mounted config knows',
    (service) => {
      const env = serviceEnv(service);
      const mount = (compose.services[service].volumes as string[]).find((v) =>
        v.endsWith(':/config/audience-sync.yaml:ro'),
      );
      expect(mount, 'config file mounted at CONFIG').toBeDefined();
      expect(env.CONFIG).toBe('/config/audience-sync.yaml');
      const configPath = new URL(mount!.split(':')[0]!, root);
      expect(existsSync(configPath), `${mount!.split(':')[0]} exists`).toBe(true);
      const referenced = new Set(
        [...readFileSync(configPath, 'utf8').matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]),
      );
      for (const name of Object.keys(env)) {
        expect(
          ENV_NAMES.includes(name) || referenced.has(name),
          `${name} is known to the code or the config`,
        ).toBe(true);
      }
    },
  );

  it('wires api and worker to the redis and minio services and a bucket that minio-init creates', () => {
    const env = serviceEnv('api');
    expect(serviceEnv('worker')).toEqual(env);
    const parsed = parseEnv(env);
    expect(hostOf(parsed.REDIS_URL)).toBe('redis');
    expect(hostOf(parsed.S3_ENDPOINT!)).toBe('minio');
    const target = parseStoreUrl(parsed.STORE_URL);
    expect(target.kind).toBe('s3');
    if (target.kind === 's3') {
      expect(compose.services['minio-init'].entrypoint.join(' ')).toContain(
        `mc mb --ignore-existing local/${target.bucket}`,
      );
    }
    // The API's published port is the one the process listens on.
    expect(compose.services.api.ports).toContain(`${parsed.PORT}:${parsed.PORT}`);
    // MinIO credentials and the app's S3 credentials are the same defaults.
    const minio = compose.services.minio.environment;
    expect(substituteDefaults(minio.MINIO_ROOT_USER)).toBe(parsed.AWS_ACCESS_KEY_ID);
    expect(substituteDefaults(minio.MINIO_ROOT_PASSWORD)).toBe(parsed.AWS_SECRET_ACCESS_KEY);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage on Node 20, runs as non-root with production dependencies and a health check', () => {
    const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?/gm)];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const [, image] of stages) expect(image).toMatch(/^node:20/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*\/healthz/m);
    // With the Node.js flags the CLI's first line gives node (the old-generation floor that keeps V8
    // from collecting in a loop, docs/benchmarks.md).
    const shebang = readFileSync(new URL('bin/audience-sync.js', root), 'utf8').split('\n', 1)[0]!;
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node --initial-old-space-size=\d+$/);
    const flags = shebang.split(' ').slice(3);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...flags, 'bin/audience-sync.js']);
    // The runtime runs the compiled output: the bin falls back to dist/ when there are no sources.
    expect(readFileSync(new URL('bin/audience-sync.js', root), 'utf8')).toContain('../dist/src/cli/main.js');
    expect(dockerfile).toMatch(/ENV NODE_ENV=production/);
  });
});
