import type { Dataset } from '../contract/records.js';
import { type Engine, EngineError, sqlString } from './duckdb.js';
import type { ReadablePart } from './gzip-lines.js';
import { jsonlFastRelation, jsonlRelation, quoteIdent, SCALAR_FIELDS } from './raw.js';

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

/** SQL counting the rows of `relation` per `_key` as `FastCount`. */
export function fastCountsSql(dataset: Dataset, relation: string): string {
  const nulls = SCALAR_FIELDS[dataset].map((f) => `${quoteIdent(f)} IS NULL`).join(' AND ');
  return `SELECT _key AS key, count(*) AS n, count(*) FILTER (WHERE ${nulls}) AS empty_rows
    FROM ${relation} GROUP BY _key`;
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
 */
export async function loadJsonlTable(
  engine: Engine,
  table: string,
  dataset: Dataset,
  parts: readonly ReadablePart[],
  lineNumbers: 'all' | 'repeated-ids' = 'all',
): Promise<{ textRead: string[] }> {
  const slow = new Set<ReadablePart>(parts.filter((p) => p.lines === undefined));
  let fast = parts.filter((p) => !slow.has(p));
  const numbered = lineNumbers === 'all';
  await engine.run(`CREATE OR REPLACE TEMP TABLE ${table} AS ${jsonlRelation(dataset, [], true)}`);
  while (fast.length > 0) {
    try {
      await engine.run(`INSERT INTO ${table} ${jsonlFastRelation(dataset, fast, numbered)}`);
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
    const counts = await engine.all<FastCount>(fastCountsSql(dataset, table));
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
      await engine.run(`INSERT INTO ${table} ${jsonlFastRelation(dataset, again)}`);
    }
  }
  if (slow.size > 0)
    await engine.run(`INSERT INTO ${table} ${jsonlRelation(dataset, [...slow], true, true)}`);
  return { textRead: [...slow].map((p) => p.key).sort() };
}
