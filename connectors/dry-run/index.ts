import { z } from 'zod';
import { accepted, batchSizeFor, skipped } from '../core/batching.js';
import { ConnectorConfigError } from '../core/errors.js';
import type {
  AnyConnector,
  Capabilities,
  ConnectorContext,
  ConnectorDefinition,
  ConnectorSession,
  DraftBatch,
  DraftRequest,
  Drafts,
  JsonValue,
  PushResult,
  SyncRow,
} from '../core/types.js';
import { metaMatchKeys } from '../meta/keys.js';

/**
 * The dry-run destination: instead of calling a platform it writes the exact request bodies it
 * would send into the object store, under `outbox/<destination>/<audience>/<run>/`. With
 * `platform: meta | google_ads | tiktok | customerio` it drafts that platform's real payloads
 * (the same pure functions the real connector sends); `generic` writes the rows' hashed keys
 * (Meta's normalization, the most complete one).
 * Credentials never reach it: `openDestination` strips them before handing over the options.
 */

export const DRY_RUN_PLATFORMS = ['generic', 'meta', 'google_ads', 'tiktok', 'customerio'] as const;
export type DryRunPlatform = (typeof DRY_RUN_PLATFORMS)[number];

export const dryRunConfigSchema = z.strictObject({
  type: z.literal('dry_run'),
  platform: z.enum(DRY_RUN_PLATFORMS).default('generic'),
  /** The emulated platform's non-secret settings (ad account, consent options, batch size...). */
  options: z.record(z.string(), z.unknown()).default({}),
  batch_size: z.number().int().min(1).max(100_000).optional(),
});
export type DryRunConfig = z.infer<typeof dryRunConfigSchema>;

export const DRY_RUN_CAPABILITIES: Capabilities = {
  maxBatchSize: 10_000,
  identifierTypes: [
    'email',
    'phone',
    'first_name',
    'last_name',
    'city',
    'region',
    'postal_code',
    'country',
    'maid',
  ],
  addsAndRemovesShareRequest: false,
  asyncJobs: false,
  minAudienceSize: null,
  replaceStrategy: 'session',
};

/** Looks a platform up lazily, so the registry can hold this connector without an import cycle. */
export type ConnectorLookup = (id: Exclude<DryRunPlatform, 'generic'>) => AnyConnector | undefined;

interface Emulation {
  platform: DryRunPlatform;
  connector?: AnyConnector;
  drafts?: Drafts;
  options: unknown;
}

const UNRESOLVED_RE = /\$\{[A-Za-z_][A-Za-z0-9_]*\}/;

export function createDryRunConnector(lookup: ConnectorLookup): ConnectorDefinition<DryRunConfig> {
  const emulations = new WeakMap<DryRunConfig, Emulation>();

  /** The emulated platform and its parsed options, once per config object (matchKeys is hot). */
  function emulate(config: DryRunConfig): Emulation {
    const cached = emulations.get(config);
    if (cached) return cached;
    let emulation: Emulation = { platform: 'generic', options: {} };
    if (config.platform !== 'generic') {
      const connector = lookup(config.platform);
      const drafts = connector?.drafts;
      if (!connector || !drafts) {
        throw new ConnectorConfigError(
          `dry-run cannot emulate ${config.platform}: it has no request drafts`,
          { connector: 'dry_run' },
        );
      }
      // Values still holding `${VAR}` were never resolved (a dry run needs no secrets): leave them out.
      const raw = Object.fromEntries(
        Object.entries(config.options).filter(([, v]) => !(typeof v === 'string' && UNRESOLVED_RE.test(v))),
      );
      const parsed = drafts.optionsSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ConnectorConfigError(
          `dry-run options for ${config.platform}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
          {
            connector: 'dry_run',
          },
        );
      }
      emulation = { platform: config.platform, connector, drafts, options: parsed.data };
    }
    emulations.set(config, emulation);
    return emulation;
  }

  function outboxOf(ctx: ConnectorContext<DryRunConfig>) {
    if (!ctx.outbox) {
      throw new ConnectorConfigError(
        `destination "${ctx.destination}": a dry run needs an object store and a run id for its outbox`,
        {
          connector: 'dry_run',
        },
      );
    }
    return ctx.outbox;
  }

  async function write(
    ctx: ConnectorContext<DryRunConfig>,
    audienceId: string,
    name: string,
    record: { op: string; platform: DryRunPlatform; requests: DraftRequest[]; rows: number },
  ): Promise<string> {
    return outboxOf(ctx).write(ctx.destination, audienceId, name, {
      destination: ctx.destination,
      platform: record.platform,
      audience_id: audienceId,
      op: record.op,
      rows: record.rows,
      requests: record.requests,
    });
  }

  function genericBatch(op: string, rows: readonly SyncRow[]): DraftBatch {
    const results = rows.map((r) =>
      Object.keys(r.keys).length ? accepted(r.key) : skipped(r.key, 'no_identifiers', 'no usable identifier'),
    );
    const sent = rows.filter((r) => Object.keys(r.keys).length > 0);
    return {
      requests: sent.length
        ? [
            {
              method: 'POST',
              path: `/${op}`,
              body: { op, rows: sent.map((r) => ({ key: r.key, keys: r.keys as JsonValue })) },
            },
          ]
        : [],
      rows: results,
    };
  }

  /** Batch files are numbered within the run; the number rides in the session, so a resumed run rewrites the same file. */
  function nextSeq(session: ConnectorSession | undefined): number {
    const previous = session?.dry_run_batch;
    return (typeof previous === 'number' ? previous : 0) + 1;
  }

  async function record(
    ctx: ConnectorContext<DryRunConfig>,
    audienceId: string,
    op: string,
    drafted: DraftBatch,
    session: ConnectorSession | undefined,
  ): Promise<PushResult> {
    const seq = nextSeq(session);
    const { platform } = emulate(ctx.config);
    await write(ctx, audienceId, `${String(seq).padStart(6, '0')}-${op}`, {
      op,
      platform,
      requests: drafted.requests,
      rows: drafted.rows.filter((r) => r.status === 'accepted').length,
    });
    return {
      rows: drafted.rows,
      unattributed: [],
      requests: drafted.requests.length,
      session: { ...session, ...drafted.session, dry_run_batch: seq },
    };
  }

  return {
    id: 'dry_run',
    title: 'Dry run (writes request bodies to the outbox)',
    apiVersion: 'outbox-v1',
    configSchema: dryRunConfigSchema,
    secretFields: [],
    endpoints: {},
    capabilities: DRY_RUN_CAPABILITIES,
    matchKeys(person, config) {
      const emulation = config ? emulate(config) : undefined;
      return emulation?.connector
        ? emulation.connector.matchKeys(person, emulation.options)
        : metaMatchKeys(person);
    },
    async ensureAudience(ctx, input) {
      const emulation = emulate(ctx.config);
      const requests = emulation.drafts ? emulation.drafts.ensureAudience(emulation.options, input) : [];
      await write(ctx, input.audienceId, '000000-ensure-audience', {
        op: 'ensure_audience',
        platform: emulation.platform,
        requests,
        rows: 0,
      });
      const customer = (emulation.options as { customer_id?: string }).customer_id ?? 'CUSTOMER_ID';
      const placeholder =
        emulation.platform === 'google_ads'
          ? `customers/${customer}/userLists/DRY_RUN_${input.audienceId}`
          : `DRY_RUN_${input.audienceId}`;
      return { platformAudienceId: placeholder, created: true };
    },
    async push(ctx, input) {
      const emulation = emulate(ctx.config);
      const limit = batchSizeFor(
        emulation.connector?.capabilities ?? DRY_RUN_CAPABILITIES,
        ctx.config.batch_size ? ctx.config : emulation.options,
      );
      if (input.rows.length > limit) {
        throw new ConnectorConfigError(
          `dry_run: a batch holds at most ${limit} rows, got ${input.rows.length}`,
          { connector: 'dry_run' },
        );
      }
      const drafted = emulation.drafts
        ? emulation.drafts.push(emulation.options, input)
        : genericBatch(input.op, input.rows);
      return record(ctx, input.audienceId, input.op, drafted, input.session);
    },
    async replace(ctx, input) {
      const emulation = emulate(ctx.config);
      if (emulation.drafts && !emulation.drafts.replace) {
        throw new ConnectorConfigError(`dry_run: ${emulation.platform} has no full replace`, {
          connector: 'dry_run',
        });
      }
      const drafted = emulation.drafts?.replace
        ? emulation.drafts.replace(emulation.options, input)
        : genericBatch('replace', input.rows);
      return record(ctx, input.audienceId, 'replace', drafted, input.session);
    },
    finalize: async (_ctx, input) => ({
      status: 'complete',
      failures: [],
      ...(input.session ? { session: input.session } : {}),
    }),
    describe: async (_ctx, platformAudienceId) => ({
      platformAudienceId,
      size: null,
      matchRate: null,
      status: 'dry run',
      raw: { dry_run: true },
    }),
  };
}
