/**
 * Typed errors with stable codes. The code is the contract: the HTTP layer maps it to a problem+json `type`
 * and status, the CLI prints `code: message`, and library users branch on `instanceof` or `code`.
 */

export type ErrorCode =
  | 'invalid_argument'
  | 'validation_failed'
  | 'queue_not_found'
  | 'job_not_found'
  | 'job_type_not_found'
  | 'topic_not_found'
  | 'schedule_not_found'
  | 'invalid_transition'
  | 'lease_lost'
  | 'idempotency_key_reused'
  | 'idempotency_key_in_flight'
  | 'idempotency_key_required'
  | 'store_unavailable'
  | 'store_closed'
  | 'unsupported_store'
  | 'migration_failed'
  | 'timeout'
  | 'shutting_down'
  | 'result_too_large';

export interface FieldError {
  /** JSON Pointer into the input that failed, e.g. `/payload/email`. */
  readonly path: string;
  readonly message: string;
}

export class SpoolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends SpoolError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

export class ValidationError extends SpoolError {
  readonly errors: readonly FieldError[];
  constructor(message: string, errors: readonly FieldError[]) {
    super('validation_failed', message);
    this.errors = errors;
  }
}

export class QueueNotFoundError extends SpoolError {
  readonly queue: string;
  constructor(queue: string) {
    super('queue_not_found', `queue "${queue}" is not declared`);
    this.queue = queue;
  }
}

export class JobNotFoundError extends SpoolError {
  readonly jobId: string;
  constructor(jobId: string) {
    super('job_not_found', `job ${jobId} not found`);
    this.jobId = jobId;
  }
}

export class JobTypeNotFoundError extends SpoolError {
  constructor(type: string) {
    super('job_type_not_found', `job type "${type}" is not defined`);
  }
}

export class TopicNotFoundError extends SpoolError {
  readonly topic: string;
  constructor(topic: string) {
    super('topic_not_found', `topic "${topic}" does not exist`);
    this.topic = topic;
  }
}

export class ScheduleNotFoundError extends SpoolError {
  readonly schedule: string;
  constructor(schedule: string) {
    super('schedule_not_found', `schedule "${schedule}" does not exist`);
    this.schedule = schedule;
  }
}

export class InvalidTransitionError extends SpoolError {
  readonly jobId: string;
  readonly state: string;
  constructor(jobId: string, state: string, action: string) {
    super('invalid_transition', `cannot ${action} job ${jobId}: it is ${state}`);
    this.jobId = jobId;
    this.state = state;
  }
}

/** The lease token no longer matches: the lease expired and the job may belong to another worker now. */
export class LeaseLostError extends SpoolError {
  readonly jobId: string;
  constructor(jobId: string) {
    super('lease_lost', `lease on job ${jobId} is no longer held (expired, or the job moved on)`);
    this.jobId = jobId;
  }
}

export class IdempotencyKeyReusedError extends SpoolError {
  readonly key: string;
  readonly jobId: string;
  constructor(key: string, jobId: string) {
    super('idempotency_key_reused', `idempotency key "${key}" was already used with a different request (job ${jobId})`);
    this.key = key;
    this.jobId = jobId;
  }
}

export class IdempotencyKeyRequiredError extends SpoolError {
  constructor(queue: string) {
    super('idempotency_key_required', `queue "${queue}" requires an idempotency key`);
  }
}

/** The store cannot be reached (database down, connection lost). Retry later. */
export class StoreUnavailableError extends SpoolError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('store_unavailable', message, options);
  }
}

export class StoreClosedError extends SpoolError {
  constructor() {
    super('store_closed', 'the store is closed');
  }
}

export class UnsupportedStoreError extends SpoolError {
  constructor(message: string) {
    super('unsupported_store', message);
  }
}

export class ShuttingDownError extends SpoolError {
  constructor(message = 'shutting down') {
    super('shutting_down', message);
  }
}

/**
 * A job result over MAX_RESULT_BYTES (core/job-result.ts): refused on ack (HTTP 413 `result-too-large`, the
 * lease kept so the worker can ack a smaller one), and from an in-process handler the attempt fails, not
 * retryable (the same handler would return the same result), so the job goes to the DLQ with this error.
 */
export class ResultTooLargeError extends SpoolError {
  readonly bytes: number;
  readonly maxBytes: number;
  readonly retryable = false;
  constructor(bytes: number, maxBytes: number) {
    super('result_too_large', `the job result is ${bytes} bytes of JSON; results are at most ${maxBytes} bytes (64 KiB)`);
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

export function isSpoolError(error: unknown): error is SpoolError {
  return error instanceof SpoolError;
}
