/** What a handler receives and returns. */
import type { Priority } from '../core/priority.js';

export interface JobInfo {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  /** The version the job was enqueued with (the payload handed to the handler is upcast to the current one). */
  readonly version: number;
  /** 1-based number of this attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: Priority;
  readonly orderingKey: string | null;
  readonly groupKey: string | null;
  readonly correlationId: string | null;
  readonly createdAt: Date;
  readonly runAt: Date;
}

export interface JobContext {
  readonly job: JobInfo;
  /**
   * Fires when the attempt must stop: its `timeoutSeconds` ran out (reason `timeout`), the lease was lost
   * (`lease_lost`: another worker may run the job now), or the worker is shutting down past its grace period.
   */
  readonly signal: AbortSignal;
  /**
   * W3C `traceparent` of this attempt: the job's (from the enqueueing HTTP request or `enqueue({traceparent})`),
   * or — with the OpenTelemetry hook on — the attempt's CONSUMER span. Send `childTraceparent(ctx.traceparent)`
   * on outgoing requests. Null when the job has none.
   */
  readonly traceparent: string | null;
  /** The trace id of `traceparent` (32 hex digits), for logs; null when there is none. */
  readonly traceId: string | null;
  /** Record progress (any JSON value); visible in the job's status. */
  progress(value: unknown): Promise<void>;
  /**
   * A durable memo of a side effect: the first successful run of `name` for this job stores its result; a
   * later attempt of the same job gets the stored result back without running `fn` again.
   */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
}

export type Handler<P = unknown, R = unknown> = (payload: P, ctx: JobContext) => Promise<R> | R;
