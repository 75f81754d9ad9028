import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import { scrubMessage } from '../contract/scrub.js';

/**
 * The embedded columnar engine: one in-process DuckDB database per job (in memory, spilling to a
 * temporary directory beyond its memory limit). Everything the build computes is SQL run here;
 * this module only opens the database with the configured limits, runs statements, streams
 * results as plain objects, and turns DuckDB's errors into typed ones that name what failed.
 */

export interface EngineSettings {
  /** DuckDB's `memory_limit` (e.g. `1GB`); the engine spills to `tempDirectory` beyond it. */
  memoryLimit?: string | undefined;
  /** Worker threads; default: the cgroup CPU quota (containers), else the host's cores. */
  threads?: number | undefined;
  /** Where spilled data goes; default: the OS temporary directory. */
  tempDirectory?: string | undefined;
}

export type Row = Record<string, unknown>;

/** Why a statement failed, so callers can say what to do (and tests can tell cases apart). */
export type EngineErrorKind = 'out_of_memory' | 'corrupt_input' | 'io' | 'query';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly kind: EngineErrorKind,
    message: string,
    /** The object (store key) the failure is about, when known. */
    readonly object?: string,
  ) {
    super(message);
  }
}

/** CPU quota of this process's cgroup (v2 `cpu.max`, v1 `cfs_quota_us`), rounded up; undefined when unlimited. */
export function cgroupCpuQuota(
  read: (path: string) => string | undefined = readIfExists,
): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim();
  if (v2) {
    const [quota, period] = v2.split(/\s+/);
    if (quota && quota !== 'max' && period) return Math.max(1, Math.ceil(Number(quota) / Number(period)));
    if (quota === 'max') return undefined;
  }
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim());
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim());
  if (quota > 0 && period > 0) return Math.max(1, Math.ceil(quota / period));
  return undefined;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A spill folder untouched this long belongs to a process that was killed: it is removed. */
const STALE_SPILL_MS = 24 * 3_600_000;

function removeStaleSpills(root: string): void {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return; // not created yet
  }
  for (const name of names) {
    if (!name.startsWith('engine-')) continue;
    const path = join(root, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_SPILL_MS)
        rmSync(path, { recursive: true, force: true });
    } catch {
      // removed meanwhile by its owner or another process
    }
  }
}

/** Threads the engine uses when none are configured: the CPU quota, never more than the cores. */
export function defaultThreads(): number {
  const cores = availableParallelism();
  return Math.max(1, Math.min(cores, cgroupCpuQuota() ?? cores));
}

export class Engine {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly threads: number,
    private readonly spill: string,
  ) {}

  static async open(settings: EngineSettings = {}): Promise<Engine> {
    const threads = settings.threads ?? defaultThreads();
    // A folder of its own: DuckDB names its spill files the same in every database, so two engines
    // (compaction lanes, a worker's concurrent jobs, two processes) sharing one folder would
    // overwrite each other's spilled data.
    const spillRoot = settings.tempDirectory ?? join(tmpdir(), 'audience-sync-duckdb');
    // DuckDB creates the spill folder itself, but not the folders above it.
    mkdirSync(spillRoot, { recursive: true });
    removeStaleSpills(spillRoot);
    const spill = join(spillRoot, `engine-${process.pid}-${randomBytes(4).toString('hex')}`);
    const options: Record<string, string> = {
      threads: String(threads),
      temp_directory: spill,
      // Nothing is fetched at run time: the extensions we use (json, parquet) are built in.
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'true',
    };
    if (settings.memoryLimit) options.memory_limit = settings.memoryLimit;
    let instance: DuckDBInstance;
    try {
      // Loaded on first use: commands that never query (`--help`, `hash`, `config`) skip the native module.
      const { DuckDBInstance } = await import('@duckdb/node-api');
      instance = await DuckDBInstance.create(':memory:', options);
    } catch (error) {
      throw classify(error, 'opening the SQL engine');
    }
    const connection = await instance.connect();
    return new Engine(instance, connection, threads, spill);
  }

  /** Runs statements that return nothing the caller needs. */
  async run(sql: string, params?: Record<string, DuckDBValue>): Promise<void> {
    try {
      await this.connection.run(sql, params);
    } catch (error) {
      throw classify(error, firstWords(sql));
    }
  }

  /** A small result, whole, as plain objects (BIGINTs that fit become numbers). */
  async all<T extends Row = Row>(sql: string, params?: Record<string, DuckDBValue>): Promise<T[]> {
    try {
      const reader = await this.connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJS().map((r) => plain(r) as T);
    } catch (error) {
      throw classify(error, firstWords(sql));
    }
  }

  /** A result of any size, chunk by chunk (about 2,048 rows each): memory stays flat. */
  async *stream<T extends Row = Row>(sql: string, params?: Record<string, DuckDBValue>): AsyncGenerator<T[]> {
    try {
      const result = await this.connection.stream(sql, params);
      for await (const rows of result.yieldRowObjectJs()) yield rows.map((r) => plain(r) as T);
    } catch (error) {
      throw classify(error, firstWords(sql));
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
    rmSync(this.spill, { recursive: true, force: true });
  }
}

function plain(row: Record<string, unknown>): Row {
  for (const [k, v] of Object.entries(row)) {
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER))
      row[k] = Number(v);
  }
  return row;
}

/** What a statement does, for its errors: its first words, up to the table it creates. */
function firstWords(sql: string): string {
  const words = sql.trim().split(/\s+/);
  const table = words.findIndex((w) => /^(TABLE|VIEW)$/i.test(w));
  return words.slice(0, table >= 0 && table < 8 ? table + 2 : 4).join(' ');
}

/** DuckDB's error text → a typed error. Messages carry paths and SQL, never record values. */
function classify(error: unknown, doing: string): EngineError {
  if (error instanceof EngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // The engine quotes the input it could not read ("Input: {"customer_id":…, "email":…"): never
  // passed on, and what remains is scrubbed of anything that looks like an identifier.
  const firstLine = scrubMessage(message.split('\n')[0]!.replace(/\s*(Input|Original Line):[\s\S]*$/, ''));
  if (/^Out of Memory Error/i.test(message) || /could not allocate/i.test(message))
    return new EngineError(
      'out_of_memory',
      `the SQL engine ran out of memory while ${doing} (${firstLine}); raise DUCKDB_MEMORY_LIMIT or give the process more memory`,
    );
  if (/parquet|magic bytes|corrupt|truncated|gzip|decompress|zstd|malformed json/i.test(message))
    return new EngineError('corrupt_input', `unreadable input while ${doing}: ${firstLine}`);
  if (/^IO Error|Permission denied|No such file|cannot open/i.test(message))
    return new EngineError('io', `I/O error while ${doing}: ${firstLine}`);
  return new EngineError('query', `SQL engine error while ${doing}: ${firstLine}`);
}

/** A string as a SQL literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A list of strings as a SQL list literal. */
export function sqlStringList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** `256MB`, `1GB`, `512 MiB` → bytes (undefined when unreadable). */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B\s*$/i.exec(text);
  if (!m) return undefined;
  const power = ' KMGT'.indexOf(m[2]!.toUpperCase() || ' ');
  return Number(m[1]) * 1024 ** Math.max(0, power);
}
