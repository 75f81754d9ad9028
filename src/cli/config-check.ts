/**
 * What `audience-sync config` runs: reading and validating the configuration file, and the
 * environment. `npm run build` replaces this module's compiled file in dist/ by one bundle of it
 * with everything it imports, zod and yaml included (scripts/bundle-config.mjs), because loading
 * those as some 250 separate modules was most of the command's start-up time. Only the `config`
 * command imports it: the bundle carries its own copy of zod, which must not meet schemas made by
 * the other one (the API's type provider) in one process. ConfigError stays outside the bundle, so
 * main.ts still recognises it.
 */

export { getEnv } from '../config/env.js';
export { loadAudienceSyncConfig } from '../config-file.js';
