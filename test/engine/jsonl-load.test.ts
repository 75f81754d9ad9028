import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDayParquet } from '../../src/compaction/to-parquet.js';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { checkGzipLines, readableParts } from '../../src/engine/gzip-lines.js';
import { loadJsonlTable } from '../../src/engine/jsonl-load.js';
import { dataColumns, jsonlRelation, quoteIdent } from '../../src/engine/raw.js';

/**
 * The engine's JSON reader is used only where it reads exactly what the line-by-line text reader
 * reads: these parts each hold one thing it would get wrong, and every table must equal the text
 * reader's, line numbers and damage included.
 */
const ok = (id: string, extra = '', customerId = `"c-${id}"`) =>
  `{"id":"${id}","customer_id":${customerId},"name":"order_completed","ts":"2026-03-10T10:00:00.000Z"${extra}}`;

const PARTS: Record<string, string> = {
  'clean.jsonl.gz': `${ok('a', ',"properties":{"value":1.50,"sku":"é"}')}\n${ok('b', '', '42')}\n${ok('c')}\n`,
  'no-final-newline.jsonl.gz': `${ok('d')}\n${ok('e')}`,
  'empty-line.jsonl.gz': `${ok('f')}\n\n${ok('g')}\n`,
  'blank-line.jsonl.gz': `${ok('h')}\n   \n${ok('i')}\n`,
  'null-line.jsonl.gz': `${ok('j')}\nnull\n${ok('k')}\n`,
  'not-an-object.jsonl.gz': `${ok('l')}\n[1,2]\n${ok('m')}\n`,
  'not-json.jsonl.gz': `${ok('n')}\n{"id":\n${ok('o')}\n`,
  'null-bag.jsonl.gz': `${ok('p', ',"properties":null')}\n`,
};
const CLEAN = ['clean.jsonl.gz', 'no-final-newline.jsonl.gz', 'null-bag.jsonl.gz'];

describe('JSON Lines into the engine', () => {
  let dir: string;
  let engine: Engine;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audience-sync-jsonl-load-'));
    for (const [name, text] of Object.entries(PARTS)) await writeFile(join(dir, name), gzipSync(text));
    engine = await Engine.open({ threads: 2 });
  });
  afterAll(async () => {
    engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  const parts = () =>
    readableParts(
      Object.keys(PARTS).map((name) => ({ key: `raw/events/dt=2026-03-10/${name}`, path: join(dir, name) })),
      dir,
    );
  const columns = ['_key', '_line', '_malformed', ...dataColumns('events')].map(quoteIdent).join(', ');
  const sorted = (from: string) => `SELECT ${columns} FROM ${from} ORDER BY _key, _line`;

  it('counts the lines of a part, empty ones and a last line without a newline included', async () => {
    expect(await checkGzipLines(join(dir, 'clean.jsonl.gz'))).toEqual({ ok: true, lines: 3 });
    expect(await checkGzipLines(join(dir, 'no-final-newline.jsonl.gz'))).toEqual({ ok: true, lines: 2 });
    expect(await checkGzipLines(join(dir, 'empty-line.jsonl.gz'))).toEqual({ ok: true, lines: 3 });
  });

  it('reads clean parts with the JSON reader and the rest as text, into the table the text reader gives', async () => {
    const readable = await parts();
    const { textRead } = await loadJsonlTable(engine, 'loaded', 'events', readable);
    expect(textRead.map((k) => k.split('/').pop())).toEqual(
      Object.keys(PARTS)
        .filter((n) => !CLEAN.includes(n))
        .sort(),
    );
    await engine.run(`CREATE OR REPLACE TEMP TABLE as_text AS ${jsonlRelation('events', readable, true)}`);
    const loaded = await engine.all(sorted('loaded'));
    expect(loaded).toEqual(await engine.all(sorted('as_text')));
    const byId = new Map(loaded.map((r) => [r.id, r]));
    expect(byId.get('b')).toMatchObject({ customer_id: '42', _line: 2 });
    expect(byId.get('a')?.properties).toBe('{"value":1.5,"sku":"é"}');
    expect(byId.get('p')?.properties).toBeNull();
    expect(
      loaded
        .filter((r) => r._malformed !== null)
        .map((r) => [String(r._key).split('/').pop(), r._line, r._malformed]),
    ).toEqual([
      ['blank-line.jsonl.gz', 2, 'not valid JSON'],
      ['empty-line.jsonl.gz', 2, 'empty'],
      ['not-an-object.jsonl.gz', 2, 'not a JSON object'],
      ['not-json.jsonl.gz', 2, 'not valid JSON'],
      ['null-line.jsonl.gz', 2, 'not a JSON object'],
    ]);
  });

  it('with repeated-ids, numbers only the lines of parts that hold an id twice (and those read as text)', async () => {
    const name = 'repeated-id.jsonl.gz';
    await writeFile(join(dir, name), gzipSync(`${ok('r')}\n${ok('s')}\n${ok('r', '', '"other"')}\n`));
    const readable = await readableParts(
      [...Object.keys(PARTS), name].map((n) => ({
        key: `raw/events/dt=2026-03-10/${n}`,
        path: join(dir, n),
      })),
      dir,
    );
    await loadJsonlTable(engine, 'lazy', 'events', readable, { lineNumbers: 'repeated-ids' });
    await loadJsonlTable(engine, 'numbered', 'events', readable);
    const rows = await engine.all<{ key: string; id: string; line: number | null }>(
      `SELECT _key AS key, id, _line AS line FROM lazy ORDER BY _key, _line, id`,
    );
    const lines = (file: string) => rows.filter((r) => r.key.endsWith(`/${file}`)).map((r) => [r.id, r.line]);
    expect(lines(name)).toEqual([
      ['r', 1],
      ['s', 2],
      ['r', 3],
    ]);
    expect(lines('clean.jsonl.gz')).toEqual([
      ['a', null],
      ['b', null],
      ['c', null],
    ]);
    expect(lines('not-json.jsonl.gz').map((r) => r[1])).toEqual([1, 2, 3]);
    // Everything but the line numbers of parts without a repeated id is the fully numbered table.
    const same = `SELECT ${columns.replace('"_line"', "CASE WHEN _key LIKE '%/clean.jsonl.gz' OR _key LIKE '%/no-final-newline.jsonl.gz' OR _key LIKE '%/null-bag.jsonl.gz' THEN NULL ELSE _line END AS _line")}`;
    expect(await engine.all(`${same} FROM lazy ORDER BY ALL`)).toEqual(
      await engine.all(`${same} FROM numbered ORDER BY ALL`),
    );
  });

  it('with inflate, reads uncompressed copies (none for a part that fails its check) into the same rows, and keeps only the columns asked for', async () => {
    const broken = 'truncated.jsonl.gz';
    const whole = gzipSync(`${ok('t')}\n${ok('u')}\n`);
    await writeFile(join(dir, broken), whole.subarray(0, whole.length - 12));
    const names = [...Object.keys(PARTS), broken];
    const list = names.map((n) => ({ key: `raw/events/dt=2026-03-10/${n}`, path: join(dir, n) }));
    const scratch = await mkdtemp(join(tmpdir(), 'audience-sync-inflate-'));
    try {
      const inflated = await readableParts(list, scratch, { inflate: true });
      // Every part that passed its check is read from its copy; the damaged one from its repair.
      expect(inflated.map((p) => p.path.split('/').pop())).toEqual(
        names.map((n, i) => (n === broken ? `repaired-${i}-${n}` : `plain-${i}-${n.replace(/\.gz$/, '')}`)),
      );
      expect((await readdir(scratch)).sort()).toEqual(inflated.map((p) => p.path.split('/').pop()).sort());
      const kept = ['id', 'customer_id', 'name', 'ts'];
      await loadJsonlTable(engine, 'plain_subset', 'events', inflated, { columns: kept });
      await loadJsonlTable(engine, 'gz_all', 'events', await readableParts(list, scratch));
      const cols = ['_key', '_line', '_malformed', ...kept].map(quoteIdent).join(', ');
      expect((await engine.all(`DESCRIBE plain_subset`)).map((r) => r.column_name)).toEqual([
        '_key',
        '_line',
        '_malformed',
        ...kept,
      ]);
      const subset = await engine.all(`SELECT ${cols} FROM plain_subset ORDER BY _key, _line`);
      expect(subset).toEqual(await engine.all(`SELECT ${cols} FROM gz_all ORDER BY _key, _line`));
      expect(subset.filter((r) => r.id === 't')).toHaveLength(1);
      // The quarantine quotes damaged lines from the uncompressed copies too.
      const written = await writeDayParquet(engine, 'events', inflated, join(scratch, 'day.parquet'));
      expect(written.problems.map((p) => [p.key.split('/').pop(), p.line, p.text])).toContainEqual([
        'not-json.jsonl.gz',
        2,
        '{"id":',
      ]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('writes a clean day straight to Parquet and a damaged one with its lines named', async () => {
    const readable = await parts();
    const clean = readable.filter((p) => CLEAN.some((n) => p.key.endsWith(n)));
    const local = join(dir, 'clean.parquet');
    const fast = await writeDayParquet(engine, 'events', clean, local);
    expect(fast.problems).toEqual([]);
    expect(fast.rows).toBe(6);
    const stored = await engine.all(
      `SELECT _key, _line, id FROM read_parquet(${sqlString(local)}) ORDER BY _key, _line`,
    );
    expect(stored.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'p']);

    const all = join(dir, 'all.parquet');
    const slow = await writeDayParquet(engine, 'events', readable, all);
    expect(slow.rows).toBe(6 + 2 * 5);
    expect(slow.problems.map((p) => [p.key.split('/').pop(), p.line, p.reason, p.text])).toEqual([
      ['blank-line.jsonl.gz', 2, 'not valid JSON', '   '],
      ['not-an-object.jsonl.gz', 2, 'not a JSON object', '[1,2]'],
      ['not-json.jsonl.gz', 2, 'not valid JSON', '{"id":'],
      ['null-line.jsonl.gz', 2, 'not a JSON object', 'null'],
    ]);
    const [{ n }] = (await engine.all(`SELECT count(*) AS n FROM read_parquet(${sqlString(all)})`)) as [
      { n: number },
    ];
    expect(n).toBe(16);
  });
});
