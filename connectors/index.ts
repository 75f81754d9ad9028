/**
 * The connectors' public surface (see README.md): the contract types, typed errors, the
 * registry, `openDestination` for the sync engine, and the helpers it needs.
 */

export { batchSizeFor, chunk } from './core/batching.js';
export { mayAddToGoogle, rowConsent } from './core/consent.js';
export { type ContextOptions, createConnectorContext, DEFAULT_TIMEOUT_MS } from './core/context.js';
export * from './core/errors.js';
export { type RetryOptions, withRetries } from './core/retry.js';
export * from './core/types.js';
export {
  WRITE_BACK_SOURCES,
  type WriteBackMapping,
  writeBackAttributes,
  writeBackMappingSchema,
} from './customerio/attributes.js';
export {
  HASH_PLATFORMS,
  type HashPlatform,
  type HashResult,
  hashIdentifier,
  UnusableValueError,
} from './hash-identifier.js';
export { type Destination, dryRunConfigFor, type OpenDestinationOptions, openDestination } from './open.js';
export { CONNECTOR_IDS, CONNECTORS, getConnector, isConnectorId } from './registry.js';
