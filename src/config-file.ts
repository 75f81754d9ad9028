import type { z } from 'zod';
import {
  type AudienceRules,
  audienceRulesShape,
  normalizeAudienceRules,
  refineAudiences,
} from './audiences/config.js';
import { audienceLookback, covariateLookback, neverSendLookback } from './audiences/lookback.js';
import { scoreTablesSchema, scoreTableTypes } from './audiences/score-tables.js';
import { refineTraits, traitsLookback } from './audiences/trait-check.js';
import { compactionConfigSchema } from './compaction/config.js';
import { ConfigError } from './config/errors.js';
import { type LoadedConfig, loadConfigFile, parseConfig } from './config/load-config.js';
import {
  alertsSchema,
  baseConfigSchema,
  healthSchema,
  scheduleSchema,
  syncSettingsSchema,
} from './config/schema.js';
import { createEventNameNormalizer } from './contract/event-name.js';
import { formatPath, oneLine } from './contract/yaml-path.js';
import { importConfigSchema } from './export/customerio/mapping.js';
import { privacyConfigSchema } from './privacy/config.js';
import {
  DEFAULT_LIFT_WINDOW_DAYS,
  defaultRawDays,
  type RetentionConfig,
  type RetentionFloor,
  rawDaysProblem,
  retentionConfigSchema,
  retentionFloor,
} from './privacy/retention-config.js';
import { normalizeRealtimeTriggers, realtimeSchema, refineRealtime } from './realtime/config.js';

/**
 * The whole of `audience-sync.yaml`, composed: the base keys (`version`, `event_aliases`,
 * `destinations`, from `src/config`), the audience rules (`src/audiences/config.ts`) and each
 * stage's settings block, each defined by the stage that reads it. A new top-level key is one line
 * here. It sits above the stages it composes: the stages read their own block's type, and only the
 * places that wire stages together (api, cli, pipeline, health, console) read the whole file.
 */
const configFileObject = baseConfigSchema.extend({
  ...audienceRulesShape,
  score_tables: scoreTablesSchema,
  sync_settings: syncSettingsSchema,
  schedule: scheduleSchema,
  health: healthSchema,
  alerts: alertsSchema,
  import: importConfigSchema,
  compaction: compactionConfigSchema,
  retention: retentionConfigSchema,
  privacy: privacyConfigSchema,
  realtime: realtimeSchema.default([]),
});

/** Event names in rules and triggers are normalized like incoming events, aliases included. */
const configFileSchema = configFileObject.transform((config) => {
  const normalize = createEventNameNormalizer(config.event_aliases);
  const retention: RetentionConfig = {
    ...config.retention,
    raw_days: config.retention.raw_days ?? defaultRawDays(rawRetentionFloor(config)),
  };
  return {
    ...normalizeAudienceRules(config, normalize),
    realtime: normalizeRealtimeTriggers(config.realtime, normalize),
    retention,
  };
});

export type AudienceSyncConfig = z.output<typeof configFileSchema>;

/**
 * The shortest `retention.raw_days` the file allows: the longest lookback of its audiences, their
 * lift covariates and `never_send`, plus the longest lift window of its audiences with a holdout.
 */
function rawRetentionFloor(config: AudienceRules): RetentionFloor {
  return retentionFloor([
    ...config.audiences.flatMap((a) => {
      const liftWindowDays =
        a.holdout && a.holdout.fraction > 0 ? (a.measure?.window_days ?? DEFAULT_LIFT_WINDOW_DAYS) : 0;
      const own = { what: `audience "${a.id}"`, lookbackDays: audienceLookback(a), liftWindowDays };
      // The lift report evaluates covariates before each entry day of its window.
      const covariates = liftWindowDays > 0 ? covariateLookback(a.measure?.covariates) : 0;
      return covariates > 0
        ? [own, { what: `audience "${a.id}" measure.covariates`, lookbackDays: covariates, liftWindowDays }]
        : [own];
    }),
    { what: 'never_send', lookbackDays: neverSendLookback(config.never_send), liftWindowDays: 0 },
    { what: 'traits', lookbackDays: traitsLookback(config.traits), liftWindowDays: 0 },
  ]);
}

/**
 * Checks that need the whole file: the audiences' cross-references (ids, `exclude`, destinations),
 * the audiences named by `realtime:` triggers, and `retention.raw_days` against the rules' lookback.
 * Throws a `ConfigError` naming the YAML path.
 */
function refineConfigFile(config: AudienceSyncConfig, source: string): void {
  const fail = (path: (string | number)[], message: string): never => {
    throw new ConfigError(oneLine(`${source}: ${formatPath(path)}: ${message}`));
  };
  refineAudiences(config, fail);
  refineTraits(config, scoreTableTypes(config.score_tables), fail);
  refineRealtime(config, fail);
  const retention = rawDaysProblem(config.retention.raw_days, rawRetentionFloor(config));
  if (retention) fail(['retention', 'raw_days'], retention);
}

export async function loadAudienceSyncConfig(
  path: string,
  env?: Record<string, string | undefined>,
): Promise<LoadedConfig<AudienceSyncConfig>> {
  return loadConfigFile<AudienceSyncConfig>(path, {
    schema: configFileSchema as z.ZodType<AudienceSyncConfig>,
    refine: refineConfigFile,
    ...(env ? { env } : {}),
  });
}

export function parseAudienceSyncConfig(
  text: string,
  source = 'audience-sync.yaml',
  env?: Record<string, string | undefined>,
): LoadedConfig<AudienceSyncConfig> {
  return parseConfig<AudienceSyncConfig>(text, source, {
    schema: configFileSchema as z.ZodType<AudienceSyncConfig>,
    refine: refineConfigFile,
    ...(env ? { env } : {}),
  });
}
