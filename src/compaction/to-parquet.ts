import type { Dataset } from '../contract/records.js';
import { type Engine, sqlString, sqlStringList } from '../engine/duckdb.js';
import { type ReadablePart, readLinesAt } from '../engine/gzip-lines.js';
import {
  type FastCount,
  fastCountsSql,
  inexactParts,
  loadJsonlTable,
  readerStopped,
} from '../engine/jsonl-load.js';
import { dataColumns, jsonlFastRelation, quoteIdent } from '../engine/raw.js';
import type { MalformedLine } from '../storage/jsonl.js';

/**
 * One day-dataset's JSON Lines parts (as `readableParts` made them) into one local Parquet file
 * (zstd): the rows of every line that is a record, with the `_key` and `_line` it came from.
 *
 * A day whose parts are all clean is written straight from the engine's JSON reader and checked
 * against the file itself (rows per part equal to its lines, no row of NULLs: see
 * engine/jsonl-load.ts); that is most days, and it parses and writes in one pass. Any other day is
 * loaded into a table line by line first, so the lines that are not records can be named.
 *
 * Rows are written in the order the reader produces them, unsorted. Ordering a day by the columns
 * the rules select on let row-group statistics skip what no rule matches, but a first build compacts
 * a whole window at once: at 1M people x 30 days (2026-12-06, docs/benchmarks.md) the sort cost the
 * first build 28 s of CPU (154 against 126 s) and saved each daily build 5.5 s (45 against 51 s).
 * Row order is not part of the contract; files written sorted read exactly the same.
 */

export interface ParquetWrite {
  /** Rows written per JSON Lines part (parts with none are left out). */
  expected: Map<string, number>;
  rows: number;
  /** Lines that are not records (with their text, for the quarantine), in key and line order. */
  problems: (MalformedLine & { text: string })[];
}

export async function writeDayParquet(
  engine: Engine,
  dataset: Dataset,
  parts: readonly ReadablePart[],
  local: string,
): Promise<ParquetWrite> {
  const columns = ['_key', '_line', ...dataColumns(dataset)].map(quoteIdent).join(', ');
  const copy = async (relation: string) => {
    const [copied] = await engine.all<{ Count: number }>(
      // zstd level 1: about 15% less CPU than the default level 3 for a day of messages, and no
      // larger (2026-12-06: 20.3 MB against 21.2 MB for 635,212 rows).
      `COPY (SELECT ${columns} FROM (${relation})) TO ${sqlString(local)}
       (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)`,
    );
    return Number(copied?.Count);
  };

  if (parts.every((p) => p.lines !== undefined)) {
    const written = await copy(jsonlFastRelation(dataset, parts)).catch((error: unknown) => {
      if (readerStopped(error)) return undefined;
      throw error;
    });
    if (written !== undefined) {
      const counts = await engine.all<FastCount>(fastCountsSql(dataset, `read_parquet(${sqlString(local)})`));
      if (inexactParts(parts, counts).length === 0) {
        const expected = new Map(counts.filter((c) => c.n > 0).map((c) => [c.key, Number(c.n)]));
        return { expected, rows: written, problems: [] };
      }
    }
  }

  const problems: (MalformedLine & { text: string })[] = parts.flatMap((part) =>
    part.problems.map((p) => ({ key: part.key, ...p })),
  );
  const table = `compact_${dataset}`;
  try {
    await loadJsonlTable(engine, table, dataset, parts);
    const relation = `SELECT * FROM ${table} WHERE _malformed IS DISTINCT FROM 'empty'`;
    const counts = await engine.all<{ _key: string; valid: number; bad: number }>(
      `SELECT _key, count(*) FILTER (WHERE _malformed IS NULL) AS valid, count(_malformed) AS bad
       FROM (${relation}) GROUP BY _key`,
    );
    const expected = new Map(counts.filter((c) => c.valid > 0).map((c) => [c._key, Number(c.valid)]));
    const withBad = counts.filter((c) => c.bad > 0).map((c) => c._key);
    if (withBad.length > 0) {
      const bad = await engine.all<{ _key: string; _line: number; _malformed: string }>(
        `SELECT _key, _line, _malformed FROM (${relation})
         WHERE _malformed IS NOT NULL AND list_contains(${sqlStringList(withBad)}, _key)`,
      );
      const byKey = new Map<string, { line: number; reason: string }[]>();
      for (const b of bad) {
        const list = byKey.get(b._key) ?? [];
        list.push({ line: Number(b._line), reason: b._malformed });
        byKey.set(b._key, list);
      }
      for (const [key, lines] of byKey) {
        const file = parts.find((f) => f.key === key)!;
        const texts = await readLinesAt(file.path, new Set(lines.map((l) => l.line)));
        for (const l of lines)
          problems.push({ key, line: l.line, reason: l.reason, text: texts.get(l.line) ?? '' });
      }
    }
    problems.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.line - b.line));
    const written = await copy(`${relation} AND _malformed IS NULL`);
    const rows = [...expected.values()].reduce((n, v) => n + v, 0);
    if (written !== rows) throw new Error(`wrote ${written} rows, expected ${rows}`);
    return { expected, rows, problems };
  } finally {
    await engine.run(`DROP TABLE IF EXISTS ${table}`);
  }
}
