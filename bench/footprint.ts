/**
 * `npm run bench -- footprint [--ref REF] [--runs N] [--keep]`: what a deployment carries and how
 * fast the CLI starts there. Targets: production install ≤ 120 MiB; `--help`, `hash` and `config`
 * start in ≤ 0.3 s from `dist/`.
 *
 * 1. A fresh clone of this repository at REF (default HEAD: committed work only) in a temp dir.
 * 2. `npm run build` there, against this checkout's node_modules (linked for the build only).
 * 3. `npm ci --omit=dev --legacy-peer-deps --ignore-scripts` from the clone's lockfile, then
 *    `node scripts/prune-modules.mjs node_modules` (as the Dockerfile's deps stage does;
 *    `--legacy-peer-deps` keeps out typescript, an optional peer of valibot; the prune deletes what
 *    Node never loads), then `du` of node_modules: disk usage (what the image layer holds, in 4 KiB
 *    blocks) and apparent size, with the largest packages; the install's size before the prune
 *    beside it. A REF without the prune script is measured as installed.
 * 4. `src/` removed (the image ships none), then `node bin/audience-sync.js` timed for `--help`,
 *    `hash --platform meta --field email` of one address and `config` of the example file:
 *    wall-clock time of the whole process, median of N runs (default 11) after one warm-up run,
 *    beside `node -e 0` (Node's own start on this machine) and the load average.
 */

import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { report } from './_report.js';

const execFileAsync = promisify(execFile);
const repo = new URL('..', import.meta.url).pathname;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** `du -sk` of each path: disk usage, or apparent size with `apparent`. In KiB. */
async function du(paths: string[], apparent = false): Promise<Map<string, number>> {
  const out = await sh('du', ['-sk', ...(apparent ? ['--apparent-size'] : []), ...paths], '/');
  const sizes = new Map<string, number>();
  for (const line of out.trim().split('\n')) {
    const [kib, path] = line.split('\t');
    sizes.set(path!, Number(kib));
  }
  return sizes;
}

/** Top-level packages of node_modules, scoped ones as `@scope/name`. */
async function packages(nodeModules: string): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of await readdir(nodeModules)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) {
      for (const scoped of await readdir(join(nodeModules, entry)))
        paths.push(join(nodeModules, entry, scoped));
    } else paths.push(join(nodeModules, entry));
  }
  return paths;
}

/** Wall-clock seconds of one process from spawn to exit; throws when it fails. */
function timeProcess(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve(seconds);
      else reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr.trim()}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function run(args: string[]): Promise<void> {
  const ref = arg(args, '--ref') ?? 'HEAD';
  const runs = Number(arg(args, '--runs') ?? 11);
  const keep = args.includes('--keep');
  const dir = await mkdtemp(join(tmpdir(), 'audience-sync-footprint-'));
  const app = join(dir, 'app');
  try {
    await sh('git', ['clone', '--quiet', repo, app], dir);
    await sh('git', ['checkout', '--quiet', '--detach', ref], app);
    const commit = (await sh('git', ['rev-parse', '--short', 'HEAD'], app)).trim();
    process.stdout.write(`footprint of ${ref} (${commit}), clone in ${app}\n`);

    // Build with this checkout's full dependency set, linked in for the build only.
    // (An older REF may type-check against packages this checkout no longer has: tsc still emits,
    // and the timings hold as long as dist/ is complete.)
    await symlink(join(repo, 'node_modules'), join(app, 'node_modules'));
    await sh('npm', ['run', 'build'], app).catch((error: Error) => {
      if (!existsSync(join(app, 'dist/src/cli/main.js'))) throw error;
      process.stdout.write(
        `warning: the build reported errors, dist/ was emitted: ${error.message.split('\n')[0]}\n`,
      );
    });
    cpSync(join(app, 'src/console/assets'), join(app, 'dist/src/console/assets'), { recursive: true });
    await rm(join(app, 'node_modules'));

    const started = process.hrtime.bigint();
    await sh(
      'npm',
      [
        'ci',
        '--omit=dev',
        '--legacy-peer-deps',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
      ],
      app,
    );
    const installSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const nodeModules = join(app, 'node_modules');
    const prune = join(app, 'scripts/prune-modules.mjs');
    if (existsSync(prune)) {
      const installed = (await du([nodeModules])).get(nodeModules)!;
      report(
        'npm ci (production), before the prune: node_modules on disk (du)',
        installed,
        `KiB (${(installed / 1024).toFixed(1)} MiB)`,
      );
      process.stdout.write(await sh(process.execPath, [prune, 'node_modules'], app));
    } else process.stdout.write(`no scripts/prune-modules.mjs at ${ref}: measured as installed\n`);
    const disk = (await du([nodeModules])).get(nodeModules)!;
    const apparent = (await du([nodeModules], true)).get(nodeModules)!;
    const pkgs = await packages(nodeModules);
    const sizes = await du(pkgs);
    report('production install: packages', pkgs.length, 'top-level');
    report('production install: node_modules on disk (du)', disk, `KiB (${(disk / 1024).toFixed(1)} MiB)`);
    report(
      'production install: node_modules apparent size',
      apparent,
      `KiB (${(apparent / 1024).toFixed(1)} MiB)`,
    );
    report('npm ci (production) --prefer-offline: install time', installSeconds, 's');
    process.stdout.write('largest packages on disk:\n');
    for (const [path, kib] of [...sizes].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
      report(`  ${path.slice(nodeModules.length + 1)}`, kib / 1024, 'MiB');
    }

    // The image ships dist/ and no sources: bin/audience-sync.js then runs dist/.
    await rm(join(app, 'src'), { recursive: true, force: true });
    const env: NodeJS.ProcessEnv = { ...process.env, CONFIG: join(app, 'audience-sync.example.yaml') };
    delete env.LOG_LEVEL;
    const bin = join(app, 'bin', 'audience-sync.js');
    const commands: [string, string[]][] = [
      ['node -e 0 (Node alone)', ['-e', '0']],
      ['audience-sync --help', [bin, '--help']],
      [
        'audience-sync hash',
        [bin, 'hash', '--platform', 'meta', '--field', 'email', ' Jane.Doe@Example.COM '],
      ],
      ['audience-sync config', [bin, 'config']],
    ];
    process.stdout.write(
      `start-up from dist/, median of ${runs} runs (load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}):\n`,
    );
    for (const [label, argv] of commands) {
      await timeProcess(argv, app, env); // warm the file cache
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await timeProcess(argv, app, env));
      const sorted = [...times].sort((a, b) => a - b);
      const ms = (s: number) => Math.round(s * 1000);
      report(`  ${label}`, ms(median(times)), `ms (min ${ms(sorted[0]!)}, max ${ms(sorted.at(-1)!)})`);
    }
  } finally {
    if (keep) process.stdout.write(`kept ${dir}\n`);
    else await rm(dir, { recursive: true, force: true });
  }
}
