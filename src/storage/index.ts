export * from './fs-store.js';
export * from './jsonl.js';
export * from './keys.js';
export * from './object-store.js';
export * from './open-store.js';
export * from './s3-store.js';
