/**
 * Runs one erasure in a child process, so a test can kill it at a named point
 * (`AUDIENCE_SYNC_FAULT=erasure:<point>`, src/fault-point.ts) and see what a rerun makes of it.
 * Usage: node --import tsx erase-child.ts '<json: {root, config, id}>' (platform URLs and tokens
 * come from the environment, as in production).
 */

import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { runErasure } from '../../src/privacy/erase.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';

const args = JSON.parse(process.argv[2] ?? '{}') as { root: string; config: string; id: string };
const store = new FsObjectStore(args.root);
const record = await runErasure({
  ctx: {
    store,
    loaded: await loadAudienceSyncConfig(args.config),
    env: parseEnv({ ...process.env, CONFIG: args.config }),
    log: createLogger({ level: 'silent' }),
  },
  id: args.id,
});
process.stdout.write(`${JSON.stringify({ status: record.status })}\n`);
