/**
 * `npm run bench -- <name> [args]` runs `bench/<name>.ts`. Benchmarks print what they measured
 * (throughput, timings, peak RSS); they never assert, and tests never time anything.
 */
import { readdir } from 'node:fs/promises';

const [name, ...args] = process.argv.slice(2);
const available = (await readdir(new URL('.', import.meta.url)))
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.replace(/\.ts$/, ''));

if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [args]\n`);
  process.exit(name ? 2 : 0);
}
const bench = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<void> };
await bench.run(args);
