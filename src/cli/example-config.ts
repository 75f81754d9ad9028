import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, EXIT } from './output.js';

/**
 * The example configuration at the root of the package, which `demo` and `console` use when CONFIG
 * does not name an existing file. The root is the first folder above this module with a
 * package.json: two levels above `src/cli/` when the sources run, three above `dist/src/cli/` when
 * the compiled code runs.
 */
export function exampleConfigPath(from: string = fileURLToPath(import.meta.url)): string {
  for (let dir = dirname(from); dirname(dir) !== dir; dir = dirname(dir)) {
    if (!existsSync(join(dir, 'package.json'))) continue;
    const example = join(dir, 'audience-sync.example.yaml');
    if (existsSync(example)) return example;
    break;
  }
  throw new CliError(
    'no configuration: CONFIG does not name an existing file and audience-sync.example.yaml is not installed',
    EXIT.usage,
  );
}
