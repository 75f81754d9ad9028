export * from './env.js';
export * from './errors.js';
export * from './load-config.js';
export * from './schema.js';
