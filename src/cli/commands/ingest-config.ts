import { existsSync } from 'node:fs';
import type { Env } from '../../config/env.js';
import { loadAudienceSyncConfig } from '../../config-file.js';
import type { CustomerIoImportConfig } from '../../export/customerio/mapping.js';

/**
 * What ingest, export and import read from `audience-sync.yaml`: event aliases and the Data Out
 * column mapping. The file is optional for them — a fresh install can ingest before any audience
 * is written — but when it exists it must be valid.
 */
export interface IngestSettings {
  eventAliases: Readonly<Record<string, string>>;
  importConfig?: CustomerIoImportConfig;
}

export async function loadIngestSettings(env: Env): Promise<IngestSettings> {
  if (!existsSync(env.CONFIG)) return { eventAliases: {} };
  const loaded = await loadAudienceSyncConfig(env.CONFIG);
  return { eventAliases: loaded.config.event_aliases, importConfig: loaded.config.import.customerio };
}
