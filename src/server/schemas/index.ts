/** The HTTP API's schemas, one module per resource. */
export * from './common.js';
export * from './queues.js';
export * from './jobs.js';
export * from './dead.js';
