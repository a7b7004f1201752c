/**
 * The OpenTelemetry hook with the real SDK (BasicTracerProvider + InMemorySpanExporter, AsyncLocalStorage
 * context manager) on every store: an HTTP enqueue with a `traceparent` makes a PRODUCER span under it and a
 * CONSUMER span under that around the handler, whose own spans nest; failures and timeouts mark the span;
 * a batch is one PRODUCER span. Plus the loader: a failed import of `@opentelemetry/api` leaves tracing off
 * with one warning, and the switch reads the option before SPOOL_OTEL.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadOpenTelemetry, openTelemetryWanted } from '../../src/observability/otel.js';
import { aborted, deferred, FAST_BACKOFF, forEachStore, openSpool, waitForState, waitUntil } from '../engine/harness.js';
import { startApi } from '../server/api-harness.js';
import { captureLog } from './log-capture.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`;

const exporter = new InMemorySpanExporter();

beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
});
afterAll(() => {
  trace.disable();
  context.disable();
});
beforeEach(() => exporter.reset());

const spans = (kind: SpanKind, jobId?: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.kind === kind && (jobId === undefined || s.attributes['messaging.message.id'] === jobId));
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

forEachStore(() => {
  describe('OpenTelemetry hook', () => {
    it('HTTP enqueue → handler: PRODUCER under the request’s traceparent, CONSUMER under the PRODUCER, handler spans under the CONSUMER', async () => {
      const api = await startApi({ spool: { openTelemetry: true } });
      await api.spool.declareQueue('traced');
      const seen = deferred<{ traceparent: string | null; traceId: string | null }>();
      api.spool.handle('traced', async (_payload, ctx) => {
        await trace.getTracer('app').startActiveSpan('send the email', async (span) => span.end());
        seen.resolve({ traceparent: ctx.traceparent, traceId: ctx.traceId });
        return 'sent';
      });
      await api.spool.work({ queues: ['traced'] });
      const accepted = await api.call('POST', '/v1/queues/traced/jobs', { body: { payload: { to: 'ada' }, correlationId: 'order-9' }, headers: { traceparent: TRACEPARENT } });
      expect(accepted.status).toBe(202);
      const id: string = accepted.body.id;
      await waitForState(api.spool, id, 'completed');
      await waitUntil(() => spans(SpanKind.CONSUMER, id).length === 1, 'the consumer span');

      const [producer] = spans(SpanKind.PRODUCER, id);
      expect(producer).toBeDefined();
      expect(producer!.name).toBe('send traced');
      expect(producer!.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(producer!)).toBe(CALLER_SPAN_ID);
      expect(producer!.attributes).toMatchObject({
        'messaging.system': 'spool',
        'messaging.operation.type': 'send',
        'messaging.destination.name': 'traced',
        'messaging.message.id': id,
        'messaging.message.conversation_id': 'order-9',
      });

      const [consumer] = spans(SpanKind.CONSUMER, id);
      expect(consumer!.name).toBe('process traced');
      expect(consumer!.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(consumer!)).toBe(producer!.spanContext().spanId);
      expect(consumer!.attributes).toMatchObject({
        'messaging.system': 'spool',
        'messaging.operation.type': 'process',
        'messaging.destination.name': 'traced',
        'messaging.message.id': id,
        'messaging.message.conversation_id': 'order-9',
        'spool.job.attempt': 1,
      });
      expect(consumer!.status.code).not.toBe(SpanStatusCode.ERROR);

      const work = exporter.getFinishedSpans().find((s) => s.name === 'send the email');
      expect(work!.spanContext().traceId).toBe(TRACE_ID);
      expect(parentOf(work!)).toBe(consumer!.spanContext().spanId);
      expect(await seen.promise).toEqual({ traceparent: `00-${TRACE_ID}-${consumer!.spanContext().spanId}-01`, traceId: TRACE_ID });
    });

    it('a library enqueue outside any span starts a trace; failed attempts mark their span ERROR with an exception event, one span per attempt', async () => {
      const { spool } = await openSpool({ openTelemetry: true });
      await spool.declareQueue('flaky', { maxAttempts: 2, backoff: FAST_BACKOFF });
      spool.handle('flaky', () => {
        throw new Error('smtp down');
      });
      const { id } = await spool.enqueue('flaky', {});
      await spool.work({ queues: ['flaky'], maintenance: { schedulerMaxSleepMs: 20 } });
      await waitForState(spool, id, 'dead');
      await waitUntil(() => spans(SpanKind.CONSUMER, id).length === 2, 'two consumer spans');

      const [producer] = spans(SpanKind.PRODUCER, id);
      expect(parentOf(producer!)).toBeUndefined();
      const consumers = spans(SpanKind.CONSUMER, id).sort((a, b) => Number(a.attributes['spool.job.attempt']) - Number(b.attributes['spool.job.attempt']));
      expect(consumers.map((s) => s.attributes['spool.job.attempt'])).toEqual([1, 2]);
      for (const s of consumers) {
        expect(s.spanContext().traceId).toBe(producer!.spanContext().traceId);
        expect(parentOf(s)).toBe(producer!.spanContext().spanId);
        expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: 'smtp down' });
        expect(s.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([['exception', 'smtp down']]);
      }
    });

    it('an attempt that timed out marks its span ERROR once the handler returns', async () => {
      const { spool } = await openSpool({ openTelemetry: true });
      await spool.declareQueue('slow', { maxAttempts: 1 });
      spool.handle('slow', async (_payload, ctx) => void (await aborted(ctx.signal)));
      const { id } = await spool.enqueue('slow', {}, { timeoutSeconds: 0.2 });
      await spool.work({ queues: ['slow'] });
      await waitForState(spool, id, 'dead');
      await waitUntil(() => spans(SpanKind.CONSUMER, id).length === 1, 'the consumer span');
      expect(spans(SpanKind.CONSUMER, id)[0]!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: expect.stringMatching(/timed out/) });
    });

    it('a batch is one PRODUCER span: every job’s CONSUMER span is its child; a job with its own traceparent keeps it', async () => {
      const { spool } = await openSpool({ openTelemetry: true });
      await spool.declareQueue('bulk');
      spool.handle('bulk', () => 'ok');
      const ownTrace = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
      const jobs = await spool.enqueueMany([
        { queue: 'bulk', payload: 1 },
        { queue: 'bulk', payload: 2 },
        { queue: 'bulk', payload: 3, traceparent: ownTrace },
      ]);
      await spool.work({ queues: ['bulk'] });
      for (const j of jobs) await waitForState(spool, j.id, 'completed');
      await waitUntil(() => spans(SpanKind.CONSUMER).length === 3, 'three consumer spans');

      const producers = spans(SpanKind.PRODUCER);
      expect(producers).toHaveLength(1);
      expect(producers[0]!.attributes['messaging.batch.message_count']).toBe(3);
      const [a, b, c] = jobs.map((j) => spans(SpanKind.CONSUMER, j.id)[0]!);
      expect(parentOf(a!)).toBe(producers[0]!.spanContext().spanId);
      expect(parentOf(b!)).toBe(producers[0]!.spanContext().spanId);
      expect(c!.spanContext().traceId).toBe('a'.repeat(32));
      expect(parentOf(c!)).toBe('b'.repeat(16));
    });

    it('off by default: no span at all', async () => {
      const { spool } = await openSpool({ openTelemetry: false });
      await spool.declareQueue('plain');
      spool.handle('plain', () => 'ok');
      const { id } = await spool.enqueue('plain', {}, { traceparent: TRACEPARENT });
      await spool.work({ queues: ['plain'] });
      await waitForState(spool, id, 'completed');
      expect(exporter.getFinishedSpans()).toEqual([]);
    });
  });
});

describe('OpenTelemetry hook without a tracer provider', () => {
  it('changes nothing: the handler gets the job’s own traceparent, no span is recorded', async () => {
    trace.disable(); // no provider: the API's no-op tracer answers
    try {
      const { spool } = await openSpool({ openTelemetry: true });
      await spool.declareQueue('plain');
      const seen = new Map<string, string | null>();
      spool.handle('plain', (_payload, ctx) => void seen.set(ctx.job.id, ctx.traceparent));
      const traced = await spool.enqueue('plain', 1, { traceparent: TRACEPARENT });
      const untraced = await spool.enqueue('plain', 2);
      const [leased] = await spool.leases.lease('plain', { max: 1 });
      expect(leased).toMatchObject({ id: traced.id, traceparent: TRACEPARENT });
      await spool.leases.release(traced.id, { leaseToken: leased!.leaseToken });
      await spool.work({ queues: ['plain'] });
      await waitForState(spool, traced.id, 'completed');
      await waitForState(spool, untraced.id, 'completed');
      expect(Object.fromEntries(seen)).toEqual({ [traced.id]: TRACEPARENT, [untraced.id]: null });
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    }
  });
});

describe('loadOpenTelemetry', () => {
  it('answers null and warns once when @opentelemetry/api cannot be imported', async () => {
    const cap = captureLog('info');
    const missing = Object.assign(new Error("Cannot find package '@opentelemetry/api' imported from spool"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(await loadOpenTelemetry(cap.log, () => Promise.reject(missing))).toBeNull();
    expect(cap.lines).toEqual([
      expect.objectContaining({ levelName: 'warn', msg: expect.stringMatching(/@opentelemetry\/api could not be loaded: tracing is off/), err: expect.objectContaining({ message: missing.message }) }),
    ]);
  });

  it('loads the real API when it is there', async () => {
    const cap = captureLog('info');
    expect(await loadOpenTelemetry(cap.log)).not.toBeNull();
    expect(cap.lines).toEqual([]);
  });
});

describe('openTelemetryWanted', () => {
  it('takes the option first, else SPOOL_OTEL (1 or true)', () => {
    expect(openTelemetryWanted(true, {})).toBe(true);
    expect(openTelemetryWanted(false, { SPOOL_OTEL: '1' })).toBe(false);
    expect(openTelemetryWanted(undefined, { SPOOL_OTEL: '1' })).toBe(true);
    expect(openTelemetryWanted(undefined, { SPOOL_OTEL: 'TRUE' })).toBe(true);
    expect(openTelemetryWanted(undefined, { SPOOL_OTEL: '0' })).toBe(false);
    expect(openTelemetryWanted(undefined, {})).toBe(false);
  });
});
