/**
 * Runs `audience-sync sync` as its own process, as a user or the image runs it, and measures that
 * process alone: wall time from spawn to exit, and its peak RSS.
 *
 * Peak RSS: the child reports its own `process.resourceUsage().maxRSS` (the kernel's high-water
 * mark of its resident set) when it exits, through a module preloaded with `--import` that only
 * installs an exit hook and samples V8's used heap every 100 ms. The bench also polls VmHWM in
 * /proc/<pid>/status every 100 ms; the figure is the larger of the two (they agree; the poll is
 * there for a child that dies without its exit hook).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

export type RuntimeChoice = 'auto' | 'dist' | 'source';

export interface Runtime {
  kind: 'dist' | 'source';
  /** Node arguments before the CLI's own. */
  entry: string[];
  describe: string;
}

/**
 * The compiled `dist/` is what the image runs (`bin/audience-sync.js` loads it when there are no
 * sources). In a checkout the bin runs the sources through tsx instead, so the bench starts
 * `dist/src/cli/main.js` itself when dist is at least as new as every source file, and otherwise
 * (or with `--runtime source`) the bin with the sources.
 */
export async function chooseRuntime(choice: RuntimeChoice): Promise<Runtime> {
  const dist = join(ROOT, 'dist/src/cli/main.js');
  const source: Runtime = {
    kind: 'source',
    entry: [join(ROOT, 'bin/audience-sync.js')],
    describe: 'the sources through tsx (`node bin/audience-sync.js` in a checkout)',
  };
  if (choice === 'source') return source;
  const stale = existsSync(dist) ? await staleSources() : ['dist/ is not built'];
  if (stale.length === 0) {
    return {
      kind: 'dist',
      entry: [dist],
      describe: 'the compiled dist/ (`node dist/src/cli/main.js`, what the image runs)',
    };
  }
  const why = `${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ` and ${stale.length - 3} more` : ''}`;
  if (choice === 'dist') throw new Error(`dist/ is not fresh (${why}): run \`npm run build\` first`);
  return {
    ...source,
    describe: `${source.describe}; dist/ not fresh: ${why} (\`npm run build\` to measure it)`,
  };
}

/** Sources newer than their compiled file (or without one), as paths relative to the repo. */
async function staleSources(): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ['src', 'connectors']) {
    const files = (await readdir(join(ROOT, dir), { recursive: true })) as string[];
    for (const file of files) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file.endsWith('.d.ts')) continue;
      const src = join(ROOT, dir, file);
      const compiled = join(ROOT, 'dist', dir, file.replace(/\.ts$/, '.js'));
      const [s, c] = await Promise.all([stat(src), stat(compiled).catch(() => undefined)]);
      if (!c || c.mtimeMs < s.mtimeMs) out.push(relative(ROOT, src));
    }
  }
  return out;
}

/** Preloaded into the sync process: reports its peak RSS and sampled peak heap at exit. */
const USAGE_HOOK = `
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
const file = process.env.BENCH_SYNC_USAGE_FILE;
let heap = 0;
const sample = () => { const h = getHeapStatistics().used_heap_size; if (h > heap) heap = h; };
setInterval(sample, 100).unref();
process.on('exit', () => {
  sample();
  if (file) writeFileSync(file, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, peakHeapBytes: heap }));
});
`;

export interface SyncProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  /** Peak RSS of the sync process. */
  peakRssMiB: number;
  /** How the peak was known: the child's own maxRSS at exit, or only the VmHWM poll. */
  rssSource: 'exit hook' | 'VmHWM poll';
  /** The largest VmHWM the 100 ms poll saw (0 when it saw none: a process shorter than 100 ms). */
  polledRssMiB: number;
  /** V8 used heap, sampled every 100 ms in the child (transient peaks between samples are missed). */
  peakHeapMiB?: number;
  stdout: string;
  stderr: string;
}

export async function runSyncProcess(
  runtime: Runtime,
  args: string[],
  env: NodeJS.ProcessEnv,
  usageFile: string,
): Promise<SyncProcessResult> {
  await rm(usageFile, { force: true });
  const started = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [`--import=data:text/javascript,${encodeURIComponent(USAGE_HOOK)}`, ...runtime.entry, ...args],
    { env: { ...env, BENCH_SYNC_USAGE_FILE: usageFile }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  let polledKiB = 0;
  const poll = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
      if (kib > polledKiB) polledKiB = kib;
    } catch {
      // Gone already (or not Linux): the exit hook's figure stands.
    }
  };
  const timer = setInterval(() => void poll(), 100);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; seconds: number }>(
    (resolve) =>
      child.on('exit', (code, signal) =>
        resolve({ code, signal, seconds: Number(process.hrtime.bigint() - started) / 1e9 }),
      ),
  );
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const { code, signal, seconds } = await exited;
  clearInterval(timer);
  await closed;
  let usage: { maxRssKiB: number; peakHeapBytes: number } | undefined;
  try {
    usage = JSON.parse(await readFile(usageFile, 'utf8')) as { maxRssKiB: number; peakHeapBytes: number };
  } catch {
    usage = undefined;
  }
  const peakKiB = Math.max(usage?.maxRssKiB ?? 0, polledKiB);
  return {
    code,
    signal,
    seconds,
    peakRssMiB: peakKiB / 1024,
    rssSource: usage ? 'exit hook' : 'VmHWM poll',
    polledRssMiB: polledKiB / 1024,
    ...(usage ? { peakHeapMiB: usage.peakHeapBytes / 1024 / 1024 } : {}),
    stdout,
    stderr,
  };
}
