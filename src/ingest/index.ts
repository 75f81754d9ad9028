export * from './buffer.js';
export * from './ingest.js';
export * from './items.js';
export * from './redis-keys.js';
export * from './signature.js';
export * from './track.js';
export * from './validate-record.js';
export * from './webhook.js';
