import type { Dataset } from '../contract/records.js';
import { type Engine, EngineError, sqlString } from './duckdb.js';
import type { ReadablePart } from './gzip-lines.js';
import { dataColumns, jsonlFastRelation, jsonlRelation, quoteIdent, SCALAR_FIELDS } from './raw.js';

/**
 * JSON Lines into the engine, fast where that is exact. Most parts are clean, and the engine's JSON
 * reader parses them several times faster than JSON functions over lines of text
 * (`jsonlFastRelation` against `jsonlRelation`). Its rows are trusted only for a part read as it
 * is (`checkGzipLines` counted its lines) whose row count equals its line count (no empty or blank
 * line was skipped) and that has no row of NULLs (a `null` line, or `{}`). A part the reader stops
 * at (a line that is not JSON, not an object, or with a repeated key) and every part that fails a
 * check is read by `jsonlRelation`, which names the damage line by line.
 */

/** Per part of a fast read: rows, and rows with every scalar NULL. */
export type FastCount = {
  key: string;
  n: number;
  empty_rows: number;
};

/**
 * SQL counting the rows of `relation` per `_key` as `FastCount`. With `kept`, only those of the
 * scalars are tested: a row NULL in all of them is re-read as text too, which is exact, only slower.
 * Two scans, the rows of NULLs counted under a WHERE: the engine pushes that test into the scan,
 * where each block's null counts rule out nearly every block unread (a day of messages: about
 * 20 ms of CPU, against 240 ms for one scan decoding every column to test each row).
 */
export function fastCountsSql(dataset: Dataset, relation: string, kept?: readonly string[]): string {
  const scalars = SCALAR_FIELDS[dataset].filter((f) => !kept || kept.includes(f));
  const nulls = scalars.map((f) => `${quoteIdent(f)} IS NULL`).join(' AND ');
  return `SELECT r.key, r.n, COALESCE(e.empty_rows, 0) AS empty_rows
    FROM (SELECT _key AS key, count(*) AS n FROM ${relation} GROUP BY _key) r
    LEFT JOIN (SELECT _key AS key, count(*) AS empty_rows FROM ${relation} WHERE ${nulls} GROUP BY _key) e
      ON e.key = r.key`;
}

/** The parts whose fast read is not exact (see above). */
export function inexactParts(parts: readonly ReadablePart[], counts: readonly FastCount[]): ReadablePart[] {
  const seen = new Map(counts.map((c) => [c.key, c]));
  return parts.filter((p) => {
    const c = seen.get(p.key);
    return p.lines === undefined || (c?.n ?? 0) !== p.lines || (c?.empty_rows ?? 0) > 0;
  });
}

/** Whether a failed fast read is worth retrying without some parts (the reader stopped at a line). */
export function readerStopped(error: unknown): error is EngineError {
  return error instanceof EngineError && error.kind !== 'out_of_memory' && error.kind !== 'io';
}

/**
 * Loads JSON Lines parts into a temporary table `table` with the columns of `jsonlRelation`
 * (`_key`, `_line`, `_malformed`, then the data columns), every line numbered, empty lines kept
 * as rows with `_malformed = 'empty'`. The one way the build parses JSON Lines (compaction writes
 * clean days straight to Parquet and falls back to this). Returns the keys read as text.
 *
 * With `lineNumbers: 'repeated-ids'` (events and messages in the build, which use line numbers only
 * to order rows of one part with the same id), parts read fast are numbered only when they hold
 * an id twice; the others' `_line` is NULL. Parts read line by line are always numbered.
 *
 * With `columns`, the table holds only those data columns (the build's open days: what its plan
 * reads, `rawColumnsRead`); they must include `id`. A reader of the table sees the others as absent.
 */
export async function loadJsonlTable(
  engine: Engine,
  table: string,
  dataset: Dataset,
  parts: readonly ReadablePart[],
  options: { lineNumbers?: 'all' | 'repeated-ids'; columns?: readonly string[] } = {},
): Promise<{ textRead: string[] }> {
  const slow = new Set<ReadablePart>(parts.filter((p) => p.lines === undefined));
  let fast = parts.filter((p) => !slow.has(p));
  const numbered = (options.lineNumbers ?? 'all') === 'all';
  const wanted = options.columns;
  const kept = wanted ? dataColumns(dataset).filter((c) => wanted.includes(c)) : dataColumns(dataset);
  const fastRead = (files: readonly ReadablePart[], numbers: boolean) =>
    jsonlFastRelation(dataset, files, numbers, kept);
  // The line-by-line reader computes every column; only the kept ones go in.
  const textRead = (files: readonly ReadablePart[], keepEmpty: boolean) =>
    `SELECT _key, _line, _malformed, ${kept.map(quoteIdent).join(', ')}
    FROM (${jsonlRelation(dataset, files, keepEmpty)})`;
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${table} AS ${textRead([], true)}`);
  while (fast.length > 0) {
    try {
      await engine.run(`INSERT INTO ${table} ${fastRead(fast, numbered)}`);
      break;
    } catch (error) {
      if (!readerStopped(error)) throw error;
      // The reader's error names the file it stopped in (never surfaced: it quotes the line).
      const stopped = fast.filter((p) => error.message.includes(p.path));
      for (const p of stopped.length > 0 ? stopped : fast) slow.add(p);
      fast = fast.filter((p) => !slow.has(p));
    }
  }
  if (fast.length > 0) {
    const counts = await engine.all<FastCount>(fastCountsSql(dataset, table, kept));
    const recheck = inexactParts(fast, counts);
    if (recheck.length > 0) {
      await engine.run(
        `DELETE FROM ${table} WHERE _key IN (${recheck.map((p) => sqlString(p.key)).join(', ')})`,
      );
      for (const p of recheck) slow.add(p);
    }
  }
  if (fast.length > 0 && !numbered) {
    // Line numbers decide only between rows of one part with the same id (de-duplication: first
    // received, then key, then line). A part read fast that has a repeated id is read again,
    // numbered; the other parts' rows keep `_line` NULL, which no tie ever reaches.
    const repeated = await engine.all<{ key: string }>(
      `SELECT DISTINCT _key AS key FROM (
         SELECT _key FROM ${table} WHERE _line IS NULL AND id IS NOT NULL AND id <> ''
         GROUP BY _key, id HAVING count(*) > 1)`,
    );
    const again = fast.filter((p) => repeated.some((r) => r.key === p.key));
    if (again.length > 0) {
      await engine.run(
        `DELETE FROM ${table} WHERE _key IN (${again.map((p) => sqlString(p.key)).join(', ')})`,
      );
      await engine.run(`INSERT INTO ${table} ${fastRead(again, true)}`);
    }
  }
  if (slow.size > 0) await engine.run(`INSERT INTO ${table} ${textRead([...slow], true)}`);
  return { textRead: [...slow].map((p) => p.key).sort() };
}
