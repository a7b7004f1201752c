/** The public surface of the `spool` package. Everything not exported here is internal. */
export { Spool } from './spool.js';
export type { SpoolOptions, EnqueueResult, EnqueueManyOptions, QueueInfo, JobType, WorkOptions } from './spool.js';
export type { EnqueueOptions, EnqueueItem } from './engine/enqueue.js';
export type { JobTypeDefinition, Upcaster } from './engine/job-types.js';
export type { Handler, JobContext, JobInfo } from './worker/handler.js';
export type { Worker, WorkerOptions } from './worker/runtime.js';
export type { Job, JobError, HistoryEntry } from './core/job.js';
export { NonRetryableError } from './core/job.js';
export type { JobState } from './core/states.js';
export { JOB_STATES, TRANSITIONS } from './core/states.js';
export type { Priority } from './core/priority.js';
export { PRIORITIES } from './core/priority.js';
export type { QueueConfig } from './core/queue-config.js';
export { QueueConfigSchema, DEFAULTS } from './core/queue-config.js';
export { ManualClock, type Clock } from './core/clock.js';
export * from './core/errors.js';
export type { QueueRecord, QueueStats, JobReceipt } from './storage/store.js';
export { Type, type Static } from 'typebox';
