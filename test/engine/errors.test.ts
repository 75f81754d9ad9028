import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, EngineError } from '../../src/engine/duckdb.js';

describe('engine errors', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open({ threads: 1 });
  });
  afterAll(() => engine.close());

  it('name the table the failing statement creates', async () => {
    const failure = await engine
      .run('CREATE OR REPLACE TEMP TABLE msg_resolved AS SELECT * FROM no_such_table')
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(EngineError);
    expect((failure as EngineError).kind).toBe('query');
    expect((failure as EngineError).message).toMatch(
      /^SQL engine error while CREATE OR REPLACE TEMP TABLE msg_resolved: /,
    );
  });

  it('name the first words of any other statement', async () => {
    const failure = await engine.all('SELECT x FROM no_such_table WHERE true').catch((e: unknown) => e);
    expect((failure as EngineError).message).toMatch(/^SQL engine error while SELECT x FROM no_such_table: /);
  });

  it('say which statement ran out of memory, and what to change', async () => {
    const small = await Engine.open({ threads: 1, memoryLimit: '1MB' });
    try {
      const failure = await small
        .run(
          'CREATE TEMP TABLE big AS SELECT range AS n, repeat(CAST(range AS VARCHAR), 20) AS s FROM range(2000000)',
        )
        .catch((e: unknown) => e);
      expect((failure as EngineError).kind).toBe('out_of_memory');
      expect((failure as EngineError).message).toMatch(
        /^the SQL engine ran out of memory while CREATE TEMP TABLE big \(.*\); raise DUCKDB_MEMORY_LIMIT/,
      );
    } finally {
      small.close();
    }
  });
});
