import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * The process environment, parsed once. Names are part of the contract (docs/environment.md).
 * Platform credentials are *not* here: the YAML references them (`${META_ACCESS_TOKEN}`) and they
 * are resolved only when that destination is used.
 */

const list = z
  .string()
  .optional()
  .transform((s) =>
    (s ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter((v) => v.length > 0),
  );

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

const optionalUrl = httpUrl.optional();

export const envSchema = z.object({
  STORE_URL: z.string().min(1).default('./data'),
  S3_ENDPOINT: optionalUrl,
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  S3_SSE: z.enum(['AES256', 'aws:kms']).optional(),
  S3_SSE_KMS_KEY_ID: z.string().min(1).optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  CONFIG: z.string().min(1).default('./audience-sync.yaml'),
  /** BullMQ key prefix: one per deployment sharing a Redis. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use letters, digits, _ . -')
    .default('audience-sync'),
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_KEYS: list,
  ADMIN_API_KEYS: list,
  /**
   * Key that signs operator console sessions (HMAC-SHA256), at least 32 characters. Unset: a random
   * key per process, so sessions end when the process restarts and are not shared across replicas.
   */
  CONSOLE_SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  CIO_WEBHOOK_SIGNING_KEYS: list,
  INGEST_DEDUPE_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(24),
  INGEST_REPLAY_WINDOW_SECONDS: z.coerce.number().int().positive().max(86_400).default(300),
  INGEST_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(104_857_600).default(4_194_304),
  INGEST_MAX_BATCH: z.coerce.number().int().positive().max(100_000).default(1000),
  EXPORT_INTERVAL_SECONDS: z.coerce.number().int().min(5).max(86_400).default(60),
  EXPORT_TRIGGER_RECORDS: z.coerce.number().int().positive().default(50_000),
  CIO_DATA_OUT_URL: z.string().min(1).optional(),
  META_GRAPH_URL: optionalUrl,
  GOOGLE_ADS_API_URL: optionalUrl,
  GOOGLE_OAUTH_TOKEN_URL: optionalUrl,
  TIKTOK_API_URL: optionalUrl,
  CIO_TRACK_URL: optionalUrl,
  /** Local disk for the SQL engine: cached S3 objects, spill files, compaction scratch files. */
  CACHE_DIR: z.string().min(1).default(join(tmpdir(), 'audience-sync-cache')),
  /** Bound of the object cache under CACHE_DIR, in MiB. */
  CACHE_MAX_MB: z.coerce.number().int().min(1).max(100_000_000).default(10_240),
  /** DuckDB's memory limit (`512MB`, `2GB`, `1.5GiB`; unset: 1GB); beyond it the engine spills to CACHE_DIR. */
  DUCKDB_MEMORY_LIMIT: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must be a size such as 512MB or 1GB')
    .optional(),
  /** DuckDB worker threads; default: the container's CPU quota, else the machine's cores. */
  DUCKDB_THREADS: z.coerce.number().int().min(1).max(1024).optional(),
});

export type Env = z.infer<typeof envSchema>;

/** Names every variable the schema knows, for docs and for the compose-file test. */
export const ENV_NAMES: readonly string[] = Object.keys(envSchema.shape);

/** Parses an environment; throws a one-line `ConfigError` naming the first bad variable. */
export function parseEnv(source: Record<string, string | undefined> = process.env): Env {
  // Empty strings mean "unset": `FOO=` in a compose file should not be a malformed value.
  const cleaned: Record<string, string> = {};
  for (const name of ENV_NAMES) {
    const value = source[name];
    if (value !== undefined && value.trim() !== '') cleaned[name] = value.trim();
  }
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    throw new ConfigError(`environment variable ${name} ${issue ? lowerFirst(issue.message) : 'is invalid'}`);
  }
  const env = parsed.data;
  if (env.S3_SSE === 'aws:kms' && !env.S3_SSE_KMS_KEY_ID) {
    throw new ConfigError('environment variable S3_SSE_KMS_KEY_ID is required when S3_SSE is aws:kms');
  }
  if (!!env.AWS_ACCESS_KEY_ID !== !!env.AWS_SECRET_ACCESS_KEY) {
    throw new ConfigError(
      'environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together',
    );
  }
  return env;
}

let cached: Env | undefined;

/** The process environment, parsed on first use. */
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
