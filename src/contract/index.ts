export * from './days.js';
export * from './event-name.js';
export * from './identifiers.js';
export * from './records.js';
export * from './rejection.js';
export * from './timestamp.js';
export * from './validate.js';
