import type { Command } from 'commander';
import { out, outJson } from '../output.js';

/** `audience-sync config [--json]`: validates the YAML and prints what it defines. */
export function registerConfigCommand(program: Command): void {
  program
    .command('config')
    .description('validate the configuration file and print a summary')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { json?: boolean }) => {
      // One bundled module in dist/ (src/cli/config-check.ts says why).
      const { loadAudienceSyncConfig, getEnv } = await import('../config-check.js');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      const summary = {
        source: env.CONFIG,
        destinations: Object.fromEntries(
          Object.entries(loaded.config.destinations).map(([name, d]) => [
            name,
            {
              type: d.type,
              missing_variables: (loaded.missingByDestination[name] ?? []).map((m) => m.variable),
            },
          ]),
        ),
        audiences: loaded.config.audiences.length,
      };
      if (opts.json) return outJson(summary);
      out(`${env.CONFIG}: valid`);
      for (const [name, d] of Object.entries(summary.destinations)) {
        const note = d.missing_variables.length ? ` (needs ${d.missing_variables.join(', ')} when used)` : '';
        out(`  destination ${name}: ${d.type}${note}`);
      }
      out(`  audiences: ${summary.audiences}`);
    });
}
