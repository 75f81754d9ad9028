import { type Env, getEnv } from '../../src/config/env.js';
import { formatPath } from '../../src/config/errors.js';
import { type Logger, log as rootLogger } from '../../src/log.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { ConnectorConfigError } from './errors.js';
import { defaultSleep } from './retry.js';
import type { ConnectorContext, ConnectorDefinition } from './types.js';

export interface ContextOptions {
  /** The destination's name in the YAML. */
  destination: string;
  /** The destination block (with `type`), secrets already resolved. */
  config: unknown;
  /** Base-URL overrides come from here (default: the process environment). */
  env?: Partial<
    Pick<
      Env,
      'META_GRAPH_URL' | 'GOOGLE_ADS_API_URL' | 'GOOGLE_OAUTH_TOKEN_URL' | 'TIKTOK_API_URL' | 'CIO_TRACK_URL'
    >
  >;
  fetch?: typeof fetch;
  log?: Logger;
  /** Per-request timeout (default 60 s: a 10,000-row upload is a few MB). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  outbox?: { store: ObjectStore; runId: string };
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Validates a destination block with the connector's schema and resolves its base URLs.
 * Errors name the destination and the YAML path, never a value.
 */
export function createConnectorContext<Config>(
  definition: ConnectorDefinition<Config>,
  options: ContextOptions,
): ConnectorContext<Config> {
  const parsed = definition.configSchema.safeParse(options.config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = formatPath(['destinations', options.destination, ...(issue?.path ?? [])]);
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more)` : '';
    throw new ConnectorConfigError(
      `destination "${options.destination}" (${definition.id}): ${where}: ${issue?.message ?? 'invalid'}${more}`,
      { connector: definition.id },
    );
  }
  const env = options.env ?? getEnv();
  const urls: Record<string, string> = {};
  for (const [name, spec] of Object.entries(definition.endpoints)) {
    const override = env[spec.env];
    urls[name] = (override ?? spec.default).replace(/\/+$/, '');
  }
  const log = (options.log ?? rootLogger).child({
    destination: options.destination,
    connector: definition.id,
  });
  return {
    config: parsed.data,
    destination: options.destination,
    urls,
    fetch: options.fetch ?? globalThis.fetch,
    log,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    sleep: options.sleep ?? defaultSleep,
    ...(options.outbox ? { outbox: options.outbox } : {}),
    cache: new Map(),
  };
}
