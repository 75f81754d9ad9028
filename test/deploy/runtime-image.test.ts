import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * What the Dockerfile does, without Docker: compile with the full dependency set (build stage),
 * `npm ci --omit=dev --legacy-peer-deps --ignore-scripts` from the lockfile, then
 * scripts/prune-modules.mjs (deps stage), and put together only what
 * the runtime stage copies — node_modules, dist/, package.json, bin/ and the example config — in a
 * temp directory. Then the CLI runs there as the image runs it: no sources, no dev dependencies.
 */

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
let app: string;
/** The deps stage's install options (without the ones that only quieten npm). */
const PRODUCTION_INSTALL = ['--omit=dev', '--legacy-peer-deps', '--ignore-scripts'];
/** The deps stage's last step: delete from node_modules what Node never loads. */
const PRUNE = 'node scripts/prune-modules.mjs node_modules';

/** The `COPY` sources of the runtime stage (`COPY --from=deps ... /app/node_modules` → node_modules). */
function runtimeCopies(): string[] {
  const runtime = dockerfile.slice(dockerfile.search(/^FROM \S+ AS runtime$/m));
  return [...runtime.matchAll(/^COPY (?:--\S+ )*(\S+) \S+$/gm)].map((m) => m[1]!.replace(/^\/app\//, ''));
}

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['bin/audience-sync.js', ...args], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', HOME: app, STORE_URL: join(app, 'data'), ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `node bin/audience-sync.js …` in the runtime copy, its stdout and stderr gathered in one string. */
function startFromImage(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, args, { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'audience-sync-image-'));
  // Build stage: `npm run build` (tsc, then scripts/build-assets.mjs), here into the temp directory.
  await execFileAsync(
    process.execPath,
    [
      join(root, 'node_modules/typescript/bin/tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      join(app, 'dist'),
    ],
    { cwd: root },
  );
  await execFileAsync(process.execPath, ['scripts/build-assets.mjs', join(app, 'dist')], { cwd: root });
  await execFileAsync(process.execPath, ['scripts/bundle-config.mjs', join(app, 'dist')], { cwd: root });
  // Deps stage: production dependencies from the lockfile, install scripts off, as in the image.
  for (const f of ['package.json', 'package-lock.json']) cpSync(join(root, f), join(app, f));
  await execFileAsync('npm', ['ci', ...PRODUCTION_INSTALL, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    timeout: 240_000,
  });
  await execFileAsync(process.execPath, [join(root, 'scripts/prune-modules.mjs'), 'node_modules'], {
    cwd: app,
  });
  // Runtime stage: what it copies besides node_modules and dist/.
  for (const f of ['bin', 'audience-sync.example.yaml'])
    cpSync(join(root, f), join(app, f), { recursive: true });
}, 300_000);

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the runtime image, assembled as the Dockerfile does', () => {
  it('copies only dependencies, dist/, package.json, bin/ and the example config: no sources, no tsx', () => {
    expect(runtimeCopies().sort()).toEqual(
      ['audience-sync.example.yaml', 'bin', 'dist', 'node_modules', 'package.json'].sort(),
    );
    expect(dockerfile).toContain(`RUN npm ci ${PRODUCTION_INSTALL.join(' ')} `);
    expect(dockerfile).not.toMatch(/\btsx\b/);
    expect(existsSync(join(app, 'src'))).toBe(false);
    // Development-only packages and the removed ones are not installed; typescript neither, although
    // valibot names it as an optional peer; chart.js only as the browser build that dist/ carries.
    for (const name of [
      'tsx',
      'esbuild',
      'vitest',
      'vite',
      'hyparquet-writer',
      'google-ads-api',
      'typescript',
      'chart.js',
    ])
      expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(existsSync(join(app, 'node_modules/facebook-nodejs-business-sdk'))).toBe(false);
  });

  it('prunes the production install as the deps stage does: no declarations, source maps or tests', async () => {
    expect(dockerfile).toContain(`${PRUNE}\n`);
    expect(dockerfile).toMatch(/^COPY scripts\/prune-modules\.mjs \.\/scripts\/$/m);
    const { stdout } = await execFileAsync(
      'find',
      [
        'node_modules',
        '-name',
        '*.d.ts',
        '-o',
        '-name',
        '*.map',
        '-o',
        '-name',
        'README.md',
        '-o',
        '-path',
        'node_modules/fastify/test',
      ],
      { cwd: app },
    );
    expect(stdout).toBe('');
    // lodash keeps only what redis-info requires; licences stay.
    expect(readdirSync(join(app, 'node_modules/lodash')).sort()).toEqual([
      'LICENSE',
      'lodash.js',
      'package.json',
    ]);
    expect(existsSync(join(app, 'node_modules/glob/LICENSE.md'))).toBe(true);
  });

  it('prints the help from dist/', async () => {
    const r = await cli(['--help']);
    expect(r.code, r.stderr).toBe(0);
    for (const command of ['serve', 'worker', 'build', 'sync', 'hash', 'config'])
      expect(r.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('hashes an email exactly as the Meta connector sends it', async () => {
    const r = await cli([
      'hash',
      '--platform',
      'meta',
      '--field',
      'email',
      '--json',
      ' Jane.Doe@Example.COM ',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { keys: { normalized: string; value: string; hashed: boolean }[] };
    expect(out.keys).toEqual([
      expect.objectContaining({
        normalized: 'jane.doe@example.com',
        value: createHash('sha256').update('jane.doe@example.com').digest('hex'),
        hashed: true,
      }),
    ]);
  });

  it('validates the example configuration', async () => {
    const config = join(app, 'audience-sync.example.yaml');
    const r = await cli(['config', '--json'], { CONFIG: config });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { audiences: number; destinations: Record<string, unknown> };
    const example = parse(readFileSync(config, 'utf8')) as {
      audiences: unknown[];
      destinations: Record<string, unknown>;
    };
    expect(summary.audiences).toBe(example.audiences.length);
    expect(Object.keys(summary.destinations).sort()).toEqual(Object.keys(example.destinations).sort());
  });

  it('runs config from its bundle, and a configuration or environment error still exits 2 with one line', async () => {
    // `npm run build` bundled what `config` loads into one module; ConfigError stays outside it.
    const bundle = readFileSync(join(app, 'dist/src/cli/config-check.js'), 'utf8');
    expect(bundle).not.toMatch(/from ["'](?:zod|yaml)["']/);
    expect(bundle).toContain('from "./../config/errors.js"');
    const missing = await cli(['config'], { CONFIG: join(app, 'no-such.yaml') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `error: config file ${join(app, 'no-such.yaml')} does not exist (set CONFIG or create it)\n`,
    );
    const env = await cli(['config'], { CONFIG: join(app, 'audience-sync.example.yaml'), PORT: 'eighty' });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^error: environment variable PORT [^\n]*\n$/);
  });

  it('generates a small dataset and builds its audiences with the DuckDB engine', async () => {
    const env = { CONFIG: join(app, 'audience-sync.example.yaml') };
    const gen = await cli(['generate', '--people', '300', '--days', '3', '--end-date', '2026-03-10'], env);
    expect(gen.code, gen.stderr).toBe(0);
    const build = await cli(['build', '--date', '2026-03-10', '--json'], env);
    expect(build.code, build.stderr).toBe(0);
    const result = JSON.parse(build.stdout) as { audiences: unknown[]; engine: { records_scanned: number } };
    // Every audience of the example configuration is built.
    const example = parse(readFileSync(join(app, 'audience-sync.example.yaml'), 'utf8')) as {
      audiences: unknown[];
    };
    expect(result.audiences).toHaveLength(example.audiences.length);
    expect(result.engine.records_scanned).toBeGreaterThan(0);
  }, 120_000);

  it('opens the console on the example configuration without CONFIG, and serves Chart.js from dist/', async () => {
    const port = await freePort();
    const { child, output, exited } = startFromImage(['bin/audience-sync.js', 'console'], {
      PATH: process.env.PATH ?? '',
      HOME: app,
      STORE_URL: join(app, 'console-data'),
      ADMIN_API_KEYS: 'image-test-key',
      PORT: String(port),
      HOST: '127.0.0.1',
      QUEUE_PREFIX: `image-test-${port}`,
      LOG_LEVEL: 'warn',
    });
    try {
      for (let i = 0; i < 150 && !/configuration .+\n/.test(output()) && child.exitCode === null; i++)
        await new Promise((r) => setTimeout(r, 200));
      expect(output()).toContain(`configuration ${join(app, 'audience-sync.example.yaml')}\n`);
      const signIn = await fetch(`http://127.0.0.1:${port}/console/sign-in`);
      expect(signIn.status).toBe(200);
      const chart = await fetch(`http://127.0.0.1:${port}/console/assets/chart.umd.min.js`);
      expect(chart.status).toBe(200);
      const text = await chart.text();
      expect(text.startsWith('/*!\n * Chart.js v4.6.1\n')).toBe(true);
      expect(text).toBe(
        readFileSync(join(root, 'node_modules/chart.js/dist/chart.umd.min.js'), 'utf8').replace(
          /\n\/\/# sourceMappingURL=\S*\s*$/,
          '\n',
        ),
      );
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output()).toBe(0);
  }, 60_000);

  it('serves /healthz, the API docs and the queue dashboard from the pruned install, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const { child, output, exited } = startFromImage(['bin/audience-sync.js', 'serve'], {
      PATH: process.env.PATH ?? '',
      STORE_URL: join(app, 'serve-data'),
      CONFIG: join(app, 'audience-sync.example.yaml'),
      PORT: String(port),
      HOST: '127.0.0.1',
      QUEUE_PREFIX: `image-test-${port}`,
      ADMIN_API_KEYS: 'image-test-key',
      LOG_LEVEL: 'warn',
    });
    try {
      let status = 0;
      for (let i = 0; i < 150 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status, output()).toBe(200);
      // What the prune must leave: swagger-ui's page and scripts, and the queue dashboard with its
      // Redis panel (redis-info, which requires lodash).
      const base = `http://127.0.0.1:${port}`;
      const admin = { authorization: 'Bearer image-test-key' };
      const docs = await fetch(`${base}/docs/`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toContain('swagger-ui');
      const bundle = await fetch(`${base}/docs/static/swagger-ui-bundle.js`);
      expect(bundle.status).toBe(200);
      expect((await bundle.text()).length).toBeGreaterThan(100_000);
      expect((await fetch(`${base}/openapi.json`)).status).toBe(200);
      const queues = await fetch(`${base}/admin/queues`, { headers: admin });
      expect(queues.status).toBe(200);
      expect(await queues.text()).toContain('<div id="root">');
      const redis = await fetch(`${base}/admin/queues/api/redis/stats`, { headers: admin });
      expect(redis.status, await redis.clone().text()).toBe(200);
      expect(await redis.json()).toHaveProperty('version');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output()).toBe(0);
  }, 60_000);
});
