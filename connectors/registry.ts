import { ConnectorConfigError } from './core/errors.js';
import type { AnyConnector, ConnectorId } from './core/types.js';
import { customerioConnector } from './customerio/index.js';
import { createDryRunConnector } from './dry-run/index.js';
import { googleAdsConnector } from './google-ads/index.js';
import { metaConnector } from './meta/index.js';
import { tiktokConnector } from './tiktok/index.js';

/**
 * Every connector by its YAML `type`. Adding a platform: a folder exporting a definition, plus
 * one line here (and its `type` in DESTINATION_TYPES, src/config/schema.ts).
 */
export const CONNECTORS: Readonly<Record<ConnectorId, AnyConnector>> = {
  meta: metaConnector,
  google_ads: googleAdsConnector,
  tiktok: tiktokConnector,
  customerio: customerioConnector,
  dry_run: createDryRunConnector((id) => CONNECTORS[id]),
};

export const CONNECTOR_IDS = Object.keys(CONNECTORS) as ConnectorId[];

export function isConnectorId(id: string): id is ConnectorId {
  return Object.hasOwn(CONNECTORS, id);
}

export function getConnector(id: string): AnyConnector {
  if (!isConnectorId(id)) {
    throw new ConnectorConfigError(`unknown destination type "${id}" (known: ${CONNECTOR_IDS.join(', ')})`, {
      connector: id,
    });
  }
  return CONNECTORS[id];
}
