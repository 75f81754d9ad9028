import type { Command } from 'commander';
import { isDay } from '../../contract/days.js';
import { CliError, EXIT, out, outJson } from '../output.js';

/** `audience-sync generate --people N --days D [--seed S] [--lift L] [--end-date D]`. */
export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('write a realistic synthetic dataset (raw layout) with a known conversion lift')
    .requiredOption('--people <n>', 'number of people', positiveInt('--people'))
    .requiredOption('--days <n>', 'number of days of activity', positiveInt('--days'))
    .option('--seed <n>', 'random seed (same seed, same data)', positiveInt('--seed'), 1)
    .option(
      '--lift <fraction>',
      'true relative conversion lift for reached people (0.2 = +20%)',
      liftValue,
      0.2,
    )
    .option('--end-date <day>', 'last day of data, YYYY-MM-DD (default: yesterday)')
    .option('--json', 'print the summary as JSON')
    .action(
      async (opts: {
        people: number;
        days: number;
        seed: number;
        lift: number;
        endDate?: string;
        json?: boolean;
      }) => {
        if (opts.endDate !== undefined && !isDay(opts.endDate)) {
          throw new CliError(`--end-date must be a day as YYYY-MM-DD, got "${opts.endDate}"`, EXIT.usage);
        }
        const { getEnv } = await import('../../config/env.js');
        const { generateDataset } = await import('../../generate/dataset.js');
        const { ensureLayout, openStore } = await import('../../storage/open-store.js');
        const env = getEnv();
        const store = openStore(env.STORE_URL, env);
        try {
          await ensureLayout(store);
          const showProgress = !opts.json && process.stderr.isTTY;
          const result = await generateDataset({
            store,
            people: opts.people,
            days: opts.days,
            seed: opts.seed,
            lift: opts.lift,
            ...(opts.endDate ? { endDay: opts.endDate } : {}),
            ...(showProgress
              ? {
                  onProgress: (done: number, total: number) => process.stderr.write(`\rday ${done}/${total}`),
                }
              : {}),
          });
          if (showProgress) process.stderr.write('\n');
          if (opts.json) return outJson(result);
          out(
            `generated ${result.people} people, ${result.days.from} .. ${result.days.to} into ${store.location}`,
          );
          out(
            `  records: ${result.records.events} events, ${result.records.messages} messages, ${result.records.people} person updates` +
              ` (${result.duplicates} duplicates, ${result.late} late, ${result.malformed} malformed lines) in ${result.parts} parts`,
          );
          out(
            `  true lift ${result.lift} for reached abandoners (holdout salt ${result.holdout.salt}, fraction ${result.holdout.fraction})`,
          );
        } finally {
          await store.close();
        }
      },
    );
}

function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
      throw new CliError(`${flag} must be a positive whole number, got "${value}"`, EXIT.usage);
    }
    return n;
  };
}

function liftValue(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < -1 || n > 10) {
    throw new CliError(`--lift must be a number between -1 and 10, got "${value}"`, EXIT.usage);
  }
  return n;
}
