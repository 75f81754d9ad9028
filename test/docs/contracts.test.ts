import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { hashIdentifier } from '../../connectors/hash-identifier.js';
import { type App, buildApp } from '../../src/api/app.js';
import { buildProgram } from '../../src/cli/program.js';
import { ENV_NAMES, parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { createBullConnection } from '../../src/pipeline/redis.js';
import { createFsTestStore, type TestStore, uniqueName } from '../helpers/stores.js';
import { deletePrefix, testRedis } from '../ingest/harness.js';

/**
 * The docs hold the contracts the code implements. Each list here is read from the code (the
 * environment schema and source files, the commander program, the fastify app's routes), so a new
 * variable, command, option or route fails this test until docs/ describes it.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const doc = (name: string) => readFileSync(join(ROOT, name), 'utf8');

/** Every source file under the given folders (TypeScript and JavaScript). */
function sourceFiles(...folders: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|js|mjs)$/.test(entry.name)) out.push(path);
    }
  };
  for (const f of folders) walk(join(ROOT, f));
  return out;
}

/** Environment variable names the code reads: the parsed schema, direct reads, connector endpoints. */
function envNamesInCode(): Set<string> {
  const names = new Set<string>(ENV_NAMES);
  for (const file of sourceFiles('src', 'connectors')) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /process\.env(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])/g,
    ))
      names.add((m[1] ?? m[2])!);
    // Connector definitions name the variable that overrides each base URL.
    for (const m of text.matchAll(/\benv:\s*'([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]!);
  }
  return names;
}

describe('docs/environment.md', () => {
  it('names every environment variable read in src/ and connectors/', () => {
    const names = envNamesInCode();
    // A sanity floor, so a broken scan cannot pass by finding nothing.
    expect(names.has('STORE_URL')).toBe(true);
    expect(names.has('META_GRAPH_URL')).toBe(true);
    expect(names.has('AUDIENCE_SYNC_FAULT')).toBe(true);
    const text = doc('docs/environment.md');
    const missing = [...names].filter((n) => !text.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });
});

describe('docs/cli.md', () => {
  const text = doc('docs/cli.md');
  const program = buildProgram();
  const commands = program.commands as Command[];

  it('has a row for every command, listing each of its options', () => {
    expect(commands.length).toBeGreaterThan(15);
    const problems: string[] = [];
    for (const command of commands) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`${command.name()}`));
      if (!row) {
        problems.push(`no row for ${command.name()}`);
        continue;
      }
      for (const option of command.options) {
        const flag = option.long ?? option.short;
        if (flag && !row.includes(flag)) problems.push(`${command.name()}: ${flag}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents no command the program does not have', () => {
    const names = new Set(commands.map((c) => c.name()));
    const rows = [...text.matchAll(/^\| `([a-z-]+)[ `]/gm)].map((m) => m[1]!);
    expect(rows.filter((r) => !names.has(r))).toEqual([]);
  });
});

/** `METHOD /path` for every route fastify prints, HEAD left out (every GET answers it). */
function routesOf(app: App): string[] {
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const parent = stack[depth - 1] ?? '';
    const segment = m[2]!;
    const path =
      parent.endsWith('/') && segment.startsWith('/') ? parent + segment.slice(1) : parent + segment;
    stack[depth] = path;
    for (const method of m[3]!.split(', ')) if (method !== 'HEAD') routes.push(`${method} ${path}`);
  }
  return [...new Set(routes)];
}

/** Mounted third-party UIs: their own pages live under these prefixes; the mount point is documented. */
const DELEGATED = ['/docs/', '/admin/queues/'];

describe('docs/http-api.md', () => {
  let t: TestStore;
  let dir: string;
  let app: App;
  let redis: Redis;
  let queueRedis: Redis;
  const prefix = uniqueName('docstest');

  beforeAll(async () => {
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'docs-config-'));
    const configPath = join(dir, 'audience-sync.yaml');
    await writeFile(
      configPath,
      'version: 1\ndestinations:\n  test: { type: dry_run }\naudiences:\n  - id: buyers\n    type: segment\n    when: { event: order_completed, within_days: 7 }\n    sync: [test]\n',
    );
    redis = testRedis();
    queueRedis = createBullConnection(inject('redisUrl'));
    app = await buildApp({
      env: parseEnv({
        CONFIG: configPath,
        ADMIN_API_KEYS: 'admin',
        API_KEYS: 'ingest',
        QUEUE_PREFIX: prefix,
      }),
      store: t.store,
      redis,
      redisPrefix: `${prefix}-ingest`,
      logger: createLogger({ level: 'silent' }),
      // Every optional part on: the operator routes, the console and the queue dashboard.
      operator: {
        loadConfig: () => loadAudienceSyncConfig(configPath, {}),
        pipeline: { connection: queueRedis, prefix },
      },
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await deletePrefix(redis, prefix);
    redis.disconnect();
    queueRedis.disconnect();
    await t.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every route the app registers', () => {
    const routes = routesOf(app);
    expect(routes).toContain('POST /v1/track');
    expect(routes).toContain('GET /v1/audiences/:id/plan');
    expect(routes).toContain('PUT /api/v1/customers/:identifier');
    const text = doc('docs/http-api.md');
    const missing = routes
      .filter((r) => !DELEGATED.some((p) => r.split(' ')[1]!.startsWith(p)))
      .filter((r) => !text.includes(`\`${r}\``) && !text.includes(` ${r}\``) && !text.includes(`\`${r},`));
    expect(missing).toEqual([]);
    for (const mount of DELEGATED) expect(text).toContain(`\`GET ${mount.slice(0, -1)}\``);
  });
});

describe('docs/identifiers.md', () => {
  const text = doc('docs/identifiers.md');
  const section = text.slice(text.indexOf('## Hash vectors'));
  const cell = (s: string) => s.trim().replace(/^`(.*)`$/, '$1');
  const rows = section
    .split('\n')
    .filter((l) => /^\| (meta|google|tiktok) \|/.test(l))
    .map((l) => l.split('|').slice(1, -1).map(cell));

  it('holds vectors for every platform', () => {
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(['meta', 'google', 'tiktok']));
    expect(rows.length).toBeGreaterThanOrEqual(14);
  });

  it.each(rows.map((r) => [`${r[0]} ${r[1]} ${JSON.stringify(r[2])}`, r] as const))(
    'the rules produce the documented vector: %s',
    (_, [platform, field, input, country, normalized, hash]) => {
      const key = hashIdentifier(platform!, field!, input!, { country: country || null }).keys[0]!;
      expect({ normalized: key.normalized, value: key.value }).toEqual({ normalized, value: hash });
    },
  );
});

describe('self-contained documentation', () => {
  /** Folders that are not ours or not source: dependencies, build output, local data. */
  const SKIP = new Set(['node_modules', '.git', 'dist', 'data', 'coverage', 'test-artifacts', 'out', 'logs']);
  // The founding design document, its platform / Customer.io spec files, and the folder beside the
  // checkout that held them; written in pieces so that this file does not match itself.
  const outside = new RegExp(['DESIGN\\.md', `${'spec'}s/[\\w-]+\\.md`, `\\.\\.${'/'}shared`].join('|'));

  function repoFiles(dir: string, out: string[] = []): string[] {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) repoFiles(path, out);
      else if (entry.isFile() && statSync(path).size < 4 * 1024 * 1024) out.push(path);
    }
    return out;
  }

  it('no file refers to documents outside the repository', () => {
    const files = repoFiles(ROOT);
    expect(files.length).toBeGreaterThan(100);
    const offending = files.filter((f) => {
      const bytes = readFileSync(f);
      if (bytes.includes(0)) return false; // binary
      return outside.test(bytes.toString('utf8'));
    });
    expect(offending.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('the README links every page of docs/', () => {
    const readme = doc('README.md');
    const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    expect(pages.filter((p) => !readme.includes(`](docs/${p}`))).toEqual([]);
  });
});
