import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Env, envSchema } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { type EngineSettings, parseBytes } from '../engine/duckdb.js';
import type { CacheOptions } from '../engine/local-files.js';

/**
 * SQL engine limits and the local cache, from the environment (compaction, the build and the JS
 * readers of Parquet parts all use these):
 * - `DUCKDB_MEMORY_LIMIT` (`1GB`, …): DuckDB's memory limit; beyond it, work spills to disk;
 * - `DUCKDB_THREADS`: engine threads (default: the container's CPU quota, else the cores);
 * - `CACHE_DIR` (default `<os tmpdir>/audience-sync-cache`): S3 objects cached for the engine
 *   (`objects/`), the engine's spill files (`duckdb-spill/`), compaction's scratch files (`tmp/`);
 * - `CACHE_MAX_MB` (default 10240): bound of the object cache.
 */

export const DEFAULT_CACHE_DIR = join(tmpdir(), 'audience-sync-cache');
export const DEFAULT_CACHE_MAX_MB = 10_240;

export type EngineEnv = Pick<Env, 'DUCKDB_MEMORY_LIMIT' | 'DUCKDB_THREADS' | 'CACHE_DIR' | 'CACHE_MAX_MB'>;

/**
 * The engine's memory limit when DUCKDB_MEMORY_LIMIT is not set. DuckDB's own default is 80% of
 * the machine's memory, whatever else runs there; a fixed 1 GB keeps a build's whole process near
 * 1.5 GB (the engine spills to disk beyond its limit instead of growing).
 */
export const DEFAULT_MEMORY_LIMIT = '1GB';

export function engineSettingsFromEnv(env: Partial<EngineEnv>): EngineSettings {
  return {
    memoryLimit: env.DUCKDB_MEMORY_LIMIT ?? DEFAULT_MEMORY_LIMIT,
    ...(env.DUCKDB_THREADS ? { threads: env.DUCKDB_THREADS } : {}),
    tempDirectory: join(env.CACHE_DIR ?? DEFAULT_CACHE_DIR, 'duckdb-spill'),
  };
}

/**
 * The settings with a memory limit no larger than `cap`: for engines that stream rows to
 * JavaScript (the Parquet readers, the sync's sort), which need little engine memory while their
 * caller holds its own. An explicit DUCKDB_MEMORY_LIMIT below the cap still wins.
 */
export function withMemoryCap(settings: EngineSettings, cap: string): EngineSettings {
  const configured = settings.memoryLimit ? parseBytes(settings.memoryLimit) : undefined;
  const limit = parseBytes(cap)!;
  return {
    ...settings,
    memoryLimit: configured !== undefined && configured < limit ? settings.memoryLimit : cap,
  };
}

export function cacheOptionsFromEnv(env: Partial<EngineEnv>): CacheOptions {
  return {
    dir: env.CACHE_DIR ?? DEFAULT_CACHE_DIR,
    maxBytes: (env.CACHE_MAX_MB ?? DEFAULT_CACHE_MAX_MB) * 1024 * 1024,
  };
}

const engineEnvSchema = envSchema.pick({
  DUCKDB_MEMORY_LIMIT: true,
  DUCKDB_THREADS: true,
  CACHE_DIR: true,
  CACHE_MAX_MB: true,
});

/**
 * These four variables from a raw environment (default: `process.env`), for library code that is
 * not handed the parsed `Env` (the people snapshot, lift outcomes, health profiles reading
 * Parquet parts). A malformed value is a `ConfigError` naming the variable, as at start-up.
 */
export function engineEnvFrom(source: Record<string, string | undefined> = process.env): EngineEnv {
  const cleaned: Record<string, string> = {};
  for (const name of Object.keys(engineEnvSchema.shape)) {
    const value = source[name];
    if (value !== undefined && value.trim() !== '') cleaned[name] = value.trim();
  }
  const parsed = engineEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `environment variable ${String(issue?.path[0] ?? 'environment')} ${issue ? issue.message.charAt(0).toLowerCase() + issue.message.slice(1) : 'is invalid'}`,
    );
  }
  return parsed.data;
}
