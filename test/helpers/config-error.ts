import { ConfigError } from '../../src/config/errors.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';

/** The message of the configuration error a file gives (parsed as `test.yaml`); throws when it loads. */
export function configErrorOf(text: string): string {
  try {
    parseAudienceSyncConfig(text, 'test.yaml', {});
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a configuration error');
}
