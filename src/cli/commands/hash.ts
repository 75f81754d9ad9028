import type { Command } from 'commander';
import { INPUT_FIELDS } from '../../../connectors/core/input-fields.js';
import { HASH_PLATFORMS } from '../../../connectors/hash-platforms.js';
import { CliError, EXIT, out, outJson } from '../output.js';

/**
 * `audience-sync hash --platform meta|google|tiktok --field F VALUE`: the normalized value and the
 * hash exactly as that platform's connector would send it. A phone without its country code is
 * read in `--country` (default US, as the spec's examples are); exits non-zero for an unusable value.
 */
export function registerHashCommand(program: Command): void {
  program
    .command('hash')
    .description('normalize and hash one identifier for a platform')
    .requiredOption('--platform <platform>', `platform rules to apply (${HASH_PLATFORMS.join(', ')})`)
    .requiredOption('--field <field>', `identifier field (${INPUT_FIELDS.join(', ')})`)
    .option('--country <code>', "the person's country: phone region and ZIP rule (phones default to US)")
    .option('--json', 'print the result as JSON')
    .argument('<value>', 'the value to normalize and hash')
    .action(
      async (value: string, opts: { platform: string; field: string; country?: string; json?: boolean }) => {
        const { hashIdentifier, UnusableValueError } = await import('../../../connectors/hash-identifier.js');
        const country = opts.country?.toUpperCase() ?? (opts.field === 'phone' ? 'US' : null);
        let result: ReturnType<typeof hashIdentifier>;
        try {
          result = hashIdentifier(opts.platform, opts.field, value, { country });
        } catch (error) {
          if (error instanceof UnusableValueError) {
            throw new CliError(error.message, error.reason === 'unusable_value' ? EXIT.failed : EXIT.usage);
          }
          throw error;
        }
        if (opts.json) {
          outJson({
            platform: result.platform,
            field: result.field,
            prehashed: result.prehashed,
            keys: result.keys.map((k) => ({
              key: k.platformKey,
              identifier: k.identifier,
              normalized: k.normalized,
              value: k.value,
              hashed: k.hashed,
            })),
          });
          return;
        }
        const lines = [`platform:   ${result.platform}`, `field:      ${result.field}`];
        for (const key of result.keys) {
          if (result.keys.length > 1) lines.push(`key:        ${key.platformKey}`);
          lines.push(`normalized: ${key.normalized ?? '(already a SHA-256 hash: passed through)'}`);
          lines.push(
            key.hashed
              ? `sha256:     ${key.value}`
              : `sent as:    ${key.value} (not hashed for ${result.platform})`,
          );
        }
        out(lines.join('\n'));
      },
    );
}
