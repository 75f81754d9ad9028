import type { Command } from 'commander';
import { isDay } from '../../contract/days.js';
import { CliError, EXIT, out, outJson } from '../output.js';

/**
 * `audience-sync explain --customer-id X [--audience id] [--date D] [--json]`: why a person is or
 * is not in each audience on day D, recomputed from the raw data with the build's own SQL. Personal
 * fields (email, phone, names, city, postal code, MAID) show only whether they are present.
 */
export function registerExplainCommand(program: Command): void {
  program
    .command('explain')
    .description('why a person is (or is not) in each audience on a day: conditions, counts, score, cut')
    .requiredOption('--customer-id <id>', 'the customer id (an id merged into another person resolves to it)')
    .option('--audience <id>', 'explain only this audience (and the audiences it excludes)')
    .option('--date <day>', 'as-of day, YYYY-MM-DD (default: the latest built day, else yesterday)')
    .option('--json', 'print the explanation as JSON')
    .action(async (opts: { customerId: string; audience?: string; date?: string; json?: boolean }) => {
      if (opts.date !== undefined && !isDay(opts.date))
        throw new CliError(`--date must be a day as YYYY-MM-DD, got "${opts.date}"`, EXIT.usage);
      if (opts.customerId.trim() === '') throw new CliError('--customer-id is empty', EXIT.usage);
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { explainPerson, formatExplanation, PersonNotFoundError } = await import(
        '../../audiences/explain.js'
      );
      const { getEnv } = await import('../../config/env.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      const store = openStore(env.STORE_URL, env);
      try {
        await ensureLayout(store);
        const explanation = await explainPerson({
          store,
          config: loaded.config,
          customerId: opts.customerId,
          ...(opts.audience !== undefined ? { audienceId: opts.audience } : {}),
          ...(opts.date !== undefined ? { day: opts.date } : {}),
        });
        if (opts.json) return outJson(explanation);
        for (const line of formatExplanation(explanation)) out(line);
      } catch (error) {
        if (error instanceof PersonNotFoundError) throw new CliError(error.message, EXIT.usage);
        throw error;
      } finally {
        await store.close();
      }
    });
}
