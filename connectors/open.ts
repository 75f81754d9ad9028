import type { PersonRecord } from '../src/contract/records.js';
import { batchSizeFor } from './core/batching.js';
import { type ContextOptions, createConnectorContext } from './core/context.js';
import { ConnectorConfigError } from './core/errors.js';
import type {
  AnyConnector,
  AudienceDescription,
  Capabilities,
  ConnectorContext,
  ConnectorId,
  EnsureAudienceInput,
  EnsureAudienceResult,
  FinalizeInput,
  FinalizeResult,
  MatchKeys,
  Outbox,
  PushInput,
  PushResult,
  ReplaceInput,
} from './core/types.js';
import { getConnector } from './registry.js';

/**
 * The sync engine's entry point: a destination from the YAML, validated and bound to its
 * connector, with the context filled in. `dryRun` swaps the connector for the dry-run one
 * emulating the same platform (secrets stripped), writing request bodies to the outbox.
 */
export interface OpenDestinationOptions extends Omit<ContextOptions, 'destination' | 'config' | 'outbox'> {
  /** The destination's name in the YAML. */
  name: string;
  /** Its block, with `type` (secrets resolved, unless this is a dry run). */
  config: { type: string } & Record<string, unknown>;
  /** Write request bodies to `outbox/` instead of calling the platform. */
  dryRun?: Outbox;
}

export interface Destination {
  name: string;
  /** The configured type (`meta`, ...), also for dry runs. */
  type: ConnectorId;
  /** The connector doing the work (`dry_run` for a dry run). */
  connector: AnyConnector;
  dryRun: boolean;
  /** The configured platform's capabilities (batch limits stay those of the real platform in a dry run). */
  capabilities: Capabilities;
  /** Rows per push for this destination. */
  batchSize: number;
  context: ConnectorContext;
  matchKeys(person: PersonRecord): MatchKeys | null;
  ensureAudience(input: EnsureAudienceInput): Promise<EnsureAudienceResult>;
  push(input: PushInput): Promise<PushResult>;
  /** Present when the platform can replace an audience in full. */
  replace?: (input: ReplaceInput) => Promise<PushResult>;
  finalize(input: FinalizeInput): Promise<FinalizeResult>;
  describe(platformAudienceId: string): Promise<AudienceDescription>;
}

export function openDestination(options: OpenDestinationOptions): Destination {
  const configured = getConnector(options.config.type);
  const dryRun = Boolean(options.dryRun) || configured.id === 'dry_run';
  let connector = configured;
  let config: unknown = options.config;
  if (dryRun && configured.id !== 'dry_run') {
    connector = getConnector('dry_run');
    config = dryRunConfigFor(configured, options.config);
  }
  if (connector.id === 'dry_run' && !options.dryRun) {
    throw new ConnectorConfigError(
      `destination "${options.name}" is a dry run: pass an object store and a run id for its outbox`,
      {
        connector: 'dry_run',
      },
    );
  }
  const { name, dryRun: outbox, config: _config, ...rest } = options;
  const context = createConnectorContext(connector, {
    ...rest,
    destination: name,
    config,
    ...(outbox ? { outbox } : {}),
  });
  const emulated = connector.id === 'dry_run' ? emulatedCapabilities(context.config) : undefined;
  const capabilities = emulated?.capabilities ?? connector.capabilities;
  const batchSize = batchSizeFor(capabilities, emulated ? emulated.options : context.config);
  const replace = connector.replace;
  return {
    name,
    type: configured.id,
    connector,
    dryRun,
    capabilities,
    batchSize,
    context,
    matchKeys: (person) => connector.matchKeys(person, context.config),
    ensureAudience: (input) => connector.ensureAudience(context, input),
    push: (input) => connector.push(context, input),
    ...(replace && capabilities.replaceStrategy !== 'none'
      ? { replace: (input: ReplaceInput) => replace.call(connector, context, input) }
      : {}),
    finalize: (input) => connector.finalize(context, input),
    describe: (id) => connector.describe(context, id),
  };
}

/** A real destination's block as dry-run config: same platform, credentials left out. */
export function dryRunConfigFor(
  definition: AnyConnector,
  block: Record<string, unknown>,
): Record<string, unknown> {
  const secret = new Set(definition.secretFields);
  const options = Object.fromEntries(Object.entries(block).filter(([k]) => k !== 'type' && !secret.has(k)));
  return { type: 'dry_run', platform: definition.id, options };
}

function emulatedCapabilities(config: unknown): { capabilities: Capabilities; options: unknown } | undefined {
  const c = config as { platform?: string; options?: Record<string, unknown>; batch_size?: number };
  if (!c.platform || c.platform === 'generic') return undefined;
  const platform = getConnector(c.platform);
  // The platform's own defaults apply (TikTok sends 1,000 people per request unless told
  // otherwise); values still holding an unresolved `${VAR}` are left out, as the dry run does.
  const raw = Object.fromEntries(
    Object.entries(c.options ?? {}).filter(
      ([, v]) => !(typeof v === 'string' && /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(v)),
    ),
  );
  const parsed = platform.drafts?.optionsSchema.safeParse(raw);
  return {
    capabilities: platform.drafts?.replace
      ? platform.capabilities
      : { ...platform.capabilities, replaceStrategy: 'none' },
    options: c.batch_size ? { batch_size: c.batch_size } : parsed?.success ? parsed.data : raw,
  };
}
