/**
 * The optional OpenTelemetry hook. Spool depends on `@opentelemetry/api` only as an optional peer: it is
 * loaded with a dynamic `import()` when the hook is switched on (`Spool.open({openTelemetry: true})` or
 * `SPOOL_OTEL=1`), and a failed import logs one warning and leaves tracing off — Spool never needs the package
 * to run. Without a registered tracer provider the API's no-op tracer makes every call here do nothing.
 *
 * Spans (OpenTelemetry messaging semantic conventions):
 * - `send <queue>` (PRODUCER) around each enqueue call (one per call; a batch is one span), parented by the
 *   job's `traceparent` when one was given, else by the active context. Its span context becomes the stored
 *   traceparent of the call's jobs, so the consumer span below is its child and one trace runs from the
 *   HTTP request to the handler.
 * - `process <queue>` (CONSUMER) around each attempt, parented by the job's stored traceparent; the handler
 *   runs inside it (its own spans nest), and its traceparent is the handler's `ctx.traceparent`. A failure
 *   sets ERROR status with an exception event; so does an attempt settled by a timeout or a lost lease.
 */
import type * as OtelApi from '@opentelemetry/api';
import { itemTraceparent, type EnqueueItem } from '../engine/enqueue.js';
import type { Logger } from '../logger.js';
import { formatTraceparent, parseTraceparent } from './trace-context.js';

/** The part of `@opentelemetry/api` the hook uses. */
export type OpenTelemetryApi = Pick<typeof OtelApi, 'trace' | 'context' | 'SpanKind' | 'SpanStatusCode' | 'ROOT_CONTEXT' | 'isSpanContextValid'>;

/** The environment variable that switches the hook on when the option is not given (`1` or `true`). */
export const OTEL_ENV = 'SPOOL_OTEL';

export function openTelemetryWanted(option: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (option !== undefined) return option;
  const value = env[OTEL_ENV]?.trim().toLowerCase();
  return value === '1' || value === 'true';
}

/**
 * Load `@opentelemetry/api` (or what `importApi` answers, for tests) and build the hook; null, with one
 * warning, when it cannot be loaded.
 */
export async function loadOpenTelemetry(
  log: Logger,
  importApi: () => Promise<OpenTelemetryApi> = () => import('@opentelemetry/api'),
): Promise<JobTracing | null> {
  try {
    return new JobTracing(await importApi());
  } catch (error) {
    log.warn(
      { err: { message: (error as Error).message } },
      `OpenTelemetry hook is on (${OTEL_ENV} / openTelemetry) but @opentelemetry/api could not be loaded: tracing is off`,
    );
    return null;
  }
}

/** What a consumer span names of the job. */
export interface ProcessedJob {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  readonly attempt: number;
  readonly correlationId: string | null;
}

type Span = OtelApi.Span;
type Context = OtelApi.Context;

export class JobTracing {
  readonly #api: OpenTelemetryApi;
  readonly #tracer: OtelApi.Tracer;

  constructor(api: OpenTelemetryApi) {
    this.#api = api;
    this.#tracer = api.trace.getTracer('spool');
  }

  /**
   * Run an enqueue of `items` inside a PRODUCER span; `run` gets the items with the span's traceparent in place
   * of the one they shared (items with a traceparent of their own keep it). A synchronous throw (SQLite `tx`)
   * stays synchronous.
   */
  send<R>(items: readonly EnqueueItem[], run: (items: readonly EnqueueItem[]) => Promise<R>): Promise<R> {
    const first = items[0];
    if (!first) return run(items);
    const given = itemTraceparent(first);
    const shared = items.every((i) => itemTraceparent(i) === given) ? given : null;
    const parent = shared ? this.#remote(shared) : this.#api.context.active();
    const queue = items.every((i) => i.queue === first.queue) ? first.queue : null;
    const span = this.#tracer.startSpan(
      `send ${queue ?? '(several queues)'}`,
      {
        kind: this.#api.SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'spool',
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'enqueue',
          ...(queue ? { 'messaging.destination.name': queue } : {}),
          ...(items.length > 1 ? { 'messaging.batch.message_count': items.length } : {}),
          ...(items.length === 1 && first.correlationId ? { 'messaging.message.conversation_id': first.correlationId } : {}),
        },
      },
      parent,
    );
    const own = this.#traceparentOf(span);
    const traced = own ? items.map((i) => (itemTraceparent(i) === shared ? { ...i, traceparent: own } : i)) : items;
    let pending: Promise<R>;
    try {
      pending = this.#api.context.with(this.#api.trace.setSpan(parent, span), () => run(traced));
    } catch (error) {
      this.#end(span, error);
      throw error;
    }
    return pending.then(
      (result) => {
        const ids = messageIds(result);
        if (ids.length === 1) span.setAttribute('messaging.message.id', ids[0]!);
        const failed = Array.isArray(result) ? result.find((r): r is Error => r instanceof Error) : undefined;
        this.#end(span, failed);
        return result;
      },
      (error: unknown) => {
        this.#end(span, error);
        throw error;
      },
    );
  }

  /**
   * Run one attempt inside a CONSUMER span parented by the job's traceparent; `run` gets the span's traceparent
   * (the job's own when the span is not real). `abortReason` says, once `run` is done, whether the attempt was
   * settled without it (a timeout, a lost lease): that is the span's error then.
   */
  process<R>(job: ProcessedJob, traceparent: string | null, run: (traceparent: string | null) => Promise<R>, abortReason: () => unknown): Promise<R> {
    const parent = traceparent ? this.#remote(traceparent) : this.#api.ROOT_CONTEXT;
    const span = this.#tracer.startSpan(
      `process ${job.queue}`,
      {
        kind: this.#api.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'spool',
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'process',
          'messaging.destination.name': job.queue,
          'messaging.message.id': job.id,
          ...(job.correlationId ? { 'messaging.message.conversation_id': job.correlationId } : {}),
          'spool.job.attempt': job.attempt,
          ...(job.type ? { 'spool.job.type': job.type } : {}),
        },
      },
      parent,
    );
    const own = this.#traceparentOf(span) ?? traceparent;
    return this.#api.context.with(this.#api.trace.setSpan(parent, span), () => run(own)).then(
      (result) => {
        this.#end(span, abortReason());
        return result;
      },
      (error: unknown) => {
        this.#end(span, error);
        throw error;
      },
    );
  }

  /** A context whose parent is the remote span a traceparent names (the root context when it is invalid). */
  #remote(traceparent: string): Context {
    const tc = parseTraceparent(traceparent);
    if (!tc) return this.#api.ROOT_CONTEXT;
    return this.#api.trace.setSpanContext(this.#api.ROOT_CONTEXT, { traceId: tc.traceId, spanId: tc.parentId, traceFlags: tc.flags, isRemote: true });
  }

  /** The span's traceparent, or null for a span with no valid context (no tracer provider registered). */
  #traceparentOf(span: Span): string | null {
    const sc = span.spanContext();
    return this.#api.isSpanContextValid(sc) ? formatTraceparent({ traceId: sc.traceId, parentId: sc.spanId, flags: sc.traceFlags }) : null;
  }

  #end(span: Span, error: unknown): void {
    if (error !== undefined && error !== null) {
      const exception = error instanceof Error ? error : { message: String((error as { message?: unknown }).message ?? error) };
      span.recordException(exception);
      span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: exception.message });
    }
    span.end();
  }
}

/** The job ids an enqueue answered (one result or a list with errors in place). */
function messageIds(result: unknown): string[] {
  const list = Array.isArray(result) ? result : [result];
  return list.flatMap((r) => (r && typeof r === 'object' && typeof (r as { id?: unknown }).id === 'string' ? [(r as { id: string }).id] : []));
}
