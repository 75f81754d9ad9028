import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheOptionsFromEnv, engineEnvFrom, engineSettingsFromEnv } from '../compaction/engine-settings.js';
import type { CompactedFile } from '../compaction/parts.js';
import { BOOLEAN_FIELDS } from '../compaction/read.js';
import { Engine, type EngineSettings, sqlString, sqlStringList } from '../engine/duckdb.js';
import { readableParts } from '../engine/gzip-lines.js';
import { loadJsonlTable } from '../engine/jsonl-load.js';
import { localFiles, namingObjects, pathsOf } from '../engine/local-files.js';
import { BAG_FIELDS, dataColumns, parquetColumnsSql, parquetRelation, quoteIdent } from '../engine/raw.js';
import type { MalformedLine } from '../storage/jsonl.js';
import type { ObjectInfo, ObjectStore } from '../storage/object-store.js';

/**
 * The person updates a snapshot folds in, held by the SQL engine and handed to JavaScript one
 * person at a time, in `customer_id` order: the fold then needs memory for one person, not for
 * everyone updated (a first build folds in every person there is).
 *
 * Every update is numbered in fold order — `ord` (the JSON Lines part's place: by day, then key)
 * and `_line` — so a person's updates arrive in the order the parts were written, whichever form
 * (JSON Lines or compacted Parquet) holds them. Rows are turned back into records the way
 * compacted rows are (`recordFromRow` in compaction/read.ts): scalars as text, flags as booleans,
 * bags parsed.
 */

/** A JSON Lines part's records, held by the part itself or by the Parquet file it was compacted into. */
export interface SourceUnit {
  /** The JSON Lines part key (what `folded` records by name). */
  key: string;
  /** The object to read: the part itself, or the Parquet file holding it. */
  part: ObjectInfo;
  /** The manifest entry when `part` is a Parquet file. */
  file?: CompactedFile;
}

export interface PersonUpdateRow {
  customer_id: string | null;
  record: Record<string, unknown>;
}

export interface LoadedUpdates {
  /** Lines of the units that are not records, in fold order (JSON Lines: found now; Parquet: at compaction). */
  malformed: MalformedLine[];
  /** Malformed lines of the Parquet sources beyond those their manifest entries name. */
  malformedUncounted: number;
  /** The updates (valid lines) of one set of people, grouped by person, in `customer_id` order. */
  people(filter?: {
    only?: readonly string[];
    except?: ReadonlySet<string>;
  }): AsyncGenerator<PersonUpdateRow[]>;
  /** Every update that names an earlier identity (`merged_from`), in fold order. */
  aliasRecords(): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const TABLE = 'person_updates';

/** Loads the units into the engine (one engine and one scratch folder, closed by `close()`). */
export async function loadPersonUpdates(
  store: ObjectStore,
  units: readonly SourceUnit[],
  scratchRoot: string,
  settings?: EngineSettings,
): Promise<LoadedUpdates> {
  const env = engineEnvFrom();
  const engine = await Engine.open(settings ?? engineSettingsFromEnv(env));
  const files = localFiles(store, cacheOptionsFromEnv(env));
  const scratch = await mkdtemp(join(scratchRoot, 'people-'));
  // Local path → object key of every part read: an engine error names the object, not the file.
  const inUse = new Map<string, string>();
  const close = async () => {
    engine.close();
    await rm(scratch, { recursive: true, force: true });
  };
  try {
    const malformed: (MalformedLine & { ord: number })[] = [];
    let malformedUncounted = 0;
    const ord = new Map(units.map((u, i) => [u.key, i]));

    const jsonlUnits = units.filter((u) => !u.file);
    const jsonlPaths = await pathsOf(
      files,
      jsonlUnits.map((u) => u.part),
      inUse,
    );
    const readable = await readableParts(
      jsonlUnits.map((u, i) => ({ key: u.key, path: jsonlPaths[i]! })),
      scratch,
      { inflate: true },
    );
    // The engine reads the scratch copies: its errors name their parts too.
    for (const part of readable) inUse.set(part.path, part.key);
    for (const part of readable)
      for (const p of part.problems)
        malformed.push({ key: part.key, line: p.line, reason: p.reason, ord: ord.get(part.key)! });
    await loadJsonlTable(engine, 'person_jsonl', 'people', readable);

    // Parquet files hold every source of a day; only the rows of sources not folded yet are read.
    const byFile = new Map<string, { info: ObjectInfo; file: CompactedFile; sources: string[] }>();
    for (const u of units) {
      if (!u.file) continue;
      const entry = byFile.get(u.part.key) ?? { info: u.part, file: u.file, sources: [] };
      entry.sources.push(u.key);
      byFile.set(u.part.key, entry);
    }
    const sources: string[] = [];
    for (const { file, sources: wanted } of byFile.values()) {
      // Damage found when these parts were compacted, as if their lines had been read now.
      const set = new Set(wanted);
      for (const m of file.malformed) if (set.has(m.key)) malformed.push({ ...m, ord: ord.get(m.key)! });
      if (wanted.length === file.sources.length)
        malformedUncounted += file.malformed_lines - file.malformed.length;
      sources.push(...wanted);
    }
    const parquetPaths = await pathsOf(
      files,
      [...byFile.values()].map((f) => f.info),
      inUse,
    );
    const parquet = [...byFile.keys()].map((key, i) => ({ key, path: parquetPaths[i]! }));
    const present =
      parquet.length > 0
        ? new Set((await engine.all<{ name: string }>(parquetColumnsSql(parquet))).map((r) => r.name))
        : undefined;

    const columns = ['_key', '_line', '_malformed', ...dataColumns('people')].map(quoteIdent).join(', ');
    const order = [...ord.entries()].map(([key, i]) => `(${sqlString(key)}, ${i})`).join(', ');
    await engine.run(
      `CREATE TEMP TABLE ${TABLE} AS
       SELECT o.ord, u.* FROM (
         SELECT ${columns} FROM person_jsonl WHERE _malformed IS DISTINCT FROM 'empty'
         UNION ALL
         SELECT ${columns} FROM (${parquetRelation('people', parquet, present)})
           WHERE ${sources.length > 0 ? `_key IN (${sources.map(sqlString).join(', ')})` : 'false'}
       ) u JOIN (VALUES ${order || `('', 0)`}) o(key, ord) ON o.key = u._key`,
    );
    await engine.run('DROP TABLE person_jsonl');
    for (const row of await engine.all<{ key: string; line: number; reason: string; ord: number }>(
      `SELECT _key AS key, _line AS line, _malformed AS reason, ord FROM ${TABLE} WHERE _malformed IS NOT NULL`,
    ))
      malformed.push(row);
    malformed.sort((a, b) => a.ord - b.ord || a.line - b.line);

    const valid = `_malformed IS NULL`;
    // Each update reaches JavaScript as one JSON text (parsed natively there): much cheaper than
    // converting a dozen columns per row to values. It is the record `recordFromRow` would give —
    // NULL columns are null (which the fold treats as missing), flags are booleans, bags are parsed.
    const record = `CAST(json_object(${dataColumns('people')
      .map((f) => {
        const c = quoteIdent(f);
        const value = BAG_FIELDS.people.includes(f)
          ? `json(${c})`
          : BOOLEAN_FIELDS.has(f)
            ? `CASE WHEN ${c} IN ('true', 'false') THEN json(${c}) ELSE to_json(${c}) END`
            : c;
        return `${sqlString(f)}, ${value}`;
      })
      .join(', ')}) AS VARCHAR) AS record`;
    return {
      malformed: malformed.map(({ key, line, reason }) => ({ key, line, reason })),
      malformedUncounted,
      async *people(filter = {}) {
        const conditions = [valid];
        if (filter.only) conditions.push(`list_contains(${sqlStringList(filter.only)}, customer_id)`);
        const sql = `SELECT customer_id, ${record} FROM ${TABLE} WHERE ${conditions.join(' AND ')}
          ORDER BY customer_id NULLS LAST, ord, _line`;
        let group: PersonUpdateRow[] = [];
        for await (const rows of engine.stream(sql)) {
          for (const row of rows) {
            const id = typeof row.customer_id === 'string' ? row.customer_id : null;
            if (filter.except && id !== null && filter.except.has(id)) continue;
            if (group.length > 0 && (id === null || group[0]!.customer_id !== id)) {
              yield group;
              group = [];
            }
            group.push({ customer_id: id, record: JSON.parse(row.record as string) });
          }
        }
        if (group.length > 0) yield group;
      },
      async aliasRecords() {
        const rows = await engine.all<{ record: string }>(
          `SELECT ${record} FROM ${TABLE} WHERE ${valid} AND merged_from IS NOT NULL ORDER BY ord, _line`,
        );
        return rows.map((row) => JSON.parse(row.record) as Record<string, unknown>);
      },
      close,
    };
  } catch (error) {
    await close();
    throw namingObjects(error, inUse);
  }
}
