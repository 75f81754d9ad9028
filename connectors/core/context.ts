import { formatPath } from '../../src/contract/yaml-path.js';
import { ConnectorConfigError } from './errors.js';
import { defaultSleep } from './retry.js';
import type {
  ConnectorContext,
  ConnectorDefinition,
  ConnectorLogger,
  EndpointSpec,
  Outbox,
} from './types.js';

export interface ContextOptions {
  /** The destination's name in the YAML. */
  destination: string;
  /** The destination block (with `type`), secrets already resolved. */
  config: unknown;
  /**
   * Base-URL overrides come from here, by the variable names of the definition's `endpoints`
   * (the application passes its parsed environment; default: the process environment).
   */
  env?: Partial<Record<EndpointVariable, string | undefined>>;
  fetch?: typeof fetch;
  /** Default: logs go nowhere. */
  log?: ConnectorLogger;
  /** Per-request timeout (default 60 s: a 10,000-row upload is a few MB). */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
  outbox?: Outbox;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

type EndpointVariable = EndpointSpec['env'];

const ignore = () => {};
const SILENT: ConnectorLogger = {
  child: () => SILENT,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
};

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
  const env = options.env ?? process.env;
  const urls: Record<string, string> = {};
  for (const [name, spec] of Object.entries(definition.endpoints)) {
    const override = env[spec.env];
    urls[name] = (override ?? spec.default).replace(/\/+$/, '');
  }
  const log = (options.log ?? SILENT).child({
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
