/**
 * `spool/client`: the typed HTTP client of a Spool server, for producers, operators and remote workers.
 * Importable on its own — it loads nothing of the server, the engine or the store drivers (only Node's
 * `node:crypto`, for `verifyWebhook`, the receiver's check of a webhook's signature).
 */
export { SpoolClient } from './spool-client.js';
export type {
  SpoolClientOptions,
  Accepted,
  BatchItem,
  DryRunAnswer,
  EnqueueOptions,
  EnqueueReceipt,
  JobFilter,
  JobJson,
  JobPage,
  LeasedJobJson,
  LeaseRef,
  LeaseRequest,
  NackError,
  QueueJson,
  ReplayResult,
} from './spool-client.js';
export {
  BadRequestError,
  ConflictError,
  errorFromProblem,
  ForbiddenError,
  LeaseLostError,
  NotFoundError,
  RateLimitedError,
  SpoolClientError,
  SpoolConnectionError,
  SpoolHttpError,
  UnauthorizedError,
  UnavailableError,
  UnprocessableError,
  type Problem,
  type ProblemFieldError,
} from './errors.js';
export type { QueueConfig } from '../core/queue-config.js';
export { verifyWebhook, type VerifyWebhookOptions, type WebhookHeaders } from './webhook-signature.js';
