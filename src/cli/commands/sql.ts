import type { Command } from 'commander';
import type { Dialect } from '../../audiences/sql/dialect.js';
import { DIALECT_NAMES, dialectByName } from '../../audiences/sql/dialects/index.js';
import type { WarehouseOptions } from '../../audiences/sql/warehouse.js';
import type { AudienceSyncConfig } from '../../config-file.js';
import { addDays, isDay, today } from '../../contract/days.js';
import type { CacheOptions } from '../../engine/local-files.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { CliError, EXIT, out } from '../output.js';

/**
 * `audience-sync sql [--audience id] [--dialect duckdb|athena|bigquery|snowflake] [--date D]`: the
 * build of day D as one SQL script (sql/warehouse.ts). For DuckDB the inputs are the store's files
 * (local copies for an S3 store), so the script runs as is in the `duckdb` CLI; for a warehouse,
 * external tables over the store's layout at `--location`. Needs no credentials (an S3 store's
 * files are listed and cached for the DuckDB script, which needs read access) and no Redis.
 */

export interface SqlScriptOptions {
  config: Pick<AudienceSyncConfig, 'audiences' | 'never_send' | 'traits' | 'score_tables'>;
  day: string;
  dialect: Dialect;
  /** These audiences and the ones they exclude (default: all). */
  audienceIds?: readonly string[];
  /** DuckDB: the store whose files the script reads, and the cache for an S3 store's objects. */
  store?: ObjectStore;
  cache?: CacheOptions;
  /** Warehouses: where the store is and what to name things. */
  warehouse?: WarehouseOptions;
}

export async function sqlScript(options: SqlScriptOptions): Promise<string> {
  const { buildOrder, withDependencies } = await import('../../audiences/config.js');
  const { compileBuildPlan } = await import('../../audiences/sql/plan.js');
  const { duckdbScript, resolveDuckdbInputs, warehouseScript } = await import(
    '../../audiences/sql/warehouse.js'
  );
  const { localFiles } = await import('../../engine/local-files.js');
  const { config, day, dialect } = options;
  const definitions =
    options.audienceIds && options.audienceIds.length > 0
      ? withDependencies(config.audiences, options.audienceIds)
      : buildOrder(config.audiences);
  // The whole file prints every trait; a selection of audiences, the traits they read.
  const everyTrait = !options.audienceIds || options.audienceIds.length === 0;
  const plan = compileBuildPlan({
    dialect,
    day,
    audiences: definitions,
    neverSend: config.never_send,
    traits: config.traits,
    scoreTables: config.score_tables,
    ...(everyTrait ? { extraTraits: Object.keys(config.traits ?? {}) } : {}),
  });
  if (dialect.name === 'duckdb') {
    if (!options.store || !options.cache) throw new Error('the DuckDB script needs the store and a cache');
    const files = localFiles(options.store, options.cache);
    return duckdbScript(plan, await resolveDuckdbInputs(options.store, plan, files));
  }
  if (!options.warehouse) throw new Error(`the ${dialect.name} script needs the store location`);
  return warehouseScript(dialect, plan, options.warehouse);
}

interface SqlOptions {
  date?: string;
  audience: string[];
  dialect: string;
  location?: string;
  namespace?: string;
  symlinks?: string;
  since?: string;
  storageIntegration?: string;
  connection?: string;
}

export function registerSqlCommand(program: Command): void {
  program
    .command('sql')
    .description(
      'print the build of a day as SQL, for the duckdb CLI or a warehouse (Athena, BigQuery, Snowflake)',
    )
    .option('--date <day>', 'as-of day, YYYY-MM-DD (default: yesterday, the last complete UTC day)')
    .option('--audience <id>', 'only this audience (and those it excludes); repeatable', collect, [])
    .option('--dialect <name>', `SQL dialect: ${DIALECT_NAMES.join(', ')}`, 'duckdb')
    .option(
      '--location <url>',
      'warehouses: the store as the warehouse reads it (default: STORE_URL when s3://)',
    )
    .option(
      '--namespace <name>',
      'warehouses: database / dataset / schema of the external tables',
      'audience_sync',
    )
    .option(
      '--symlinks <url>',
      'athena: where the Parquet symlink lists are (default: <location>/athena-symlinks)',
    )
    .option('--since <day>', 'athena: first day of the dt partition projection (default 2020-01-01)')
    .option('--storage-integration <name>', 'snowflake: storage integration of the stage', 'audience_sync_s3')
    .option('--connection <id>', 'bigquery: connection of an Omni or BigLake external table')
    .action(async (opts: SqlOptions) => {
      const day = opts.date ?? addDays(today(), -1);
      if (!isDay(day)) throw new CliError(`--date must be a day as YYYY-MM-DD, got "${day}"`, EXIT.usage);
      if (opts.since !== undefined && !isDay(opts.since)) {
        throw new CliError(`--since must be a day as YYYY-MM-DD, got "${opts.since}"`, EXIT.usage);
      }
      const dialect = dialectByName(opts.dialect);
      if (!dialect) {
        throw new CliError(
          `--dialect must be one of ${DIALECT_NAMES.join(', ')}, got "${opts.dialect}"`,
          EXIT.usage,
        );
      }
      const { cacheOptionsFromEnv } = await import('../../compaction/engine-settings.js');
      const { getEnv } = await import('../../config/env.js');
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { ObjectNotFoundError } = await import('../../storage/object-store.js');
      const { openStore, parseStoreUrl } = await import('../../storage/open-store.js');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      if (loaded.config.audiences.length === 0) {
        throw new CliError(`${env.CONFIG} defines no audiences`, EXIT.usage);
      }
      const common = {
        config: loaded.config,
        day,
        dialect,
        ...(opts.audience.length > 0 ? { audienceIds: opts.audience } : {}),
      };
      if (dialect.name !== 'duckdb') {
        const location =
          opts.location ?? (parseStoreUrl(env.STORE_URL).kind === 's3' ? env.STORE_URL : undefined);
        if (!location) {
          throw new CliError(
            `--location is required for --dialect ${dialect.name} when STORE_URL is not s3:// (the URL the warehouse reads the store at)`,
            EXIT.usage,
          );
        }
        out(
          await sqlScript({
            ...common,
            warehouse: {
              location,
              namespace: opts.namespace ?? 'audience_sync',
              ...(opts.symlinks ? { symlinks: opts.symlinks } : {}),
              ...(opts.since ? { since: opts.since } : {}),
              ...(opts.storageIntegration ? { storageIntegration: opts.storageIntegration } : {}),
              ...(opts.connection ? { connection: opts.connection } : {}),
            },
          }),
        );
        return;
      }
      const store = openStore(env.STORE_URL, env);
      try {
        out(await sqlScript({ ...common, store, cache: cacheOptionsFromEnv(env) }));
      } catch (error) {
        if (error instanceof ObjectNotFoundError) {
          throw new CliError(`${error.message}: build the day first (audience-sync build --date ${day})`);
        }
        throw error;
      } finally {
        await store.close();
      }
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
