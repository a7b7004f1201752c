/**
 * Job event streams: `GET /v1/jobs/{id}/events`, Server-Sent Events. One `event: state` per transition of
 * the job, `id:` its index in the job's history and `data: {id, state, at, attempt, reason?, error?}`; the
 * current state first, or — with `Last-Event-ID` (EventSource sends it when it reconnects) — every entry after
 * that one. The stream ends after a terminal state; a reconnect whose `Last-Event-ID` is at or after the
 * terminal event answers 204, which makes EventSource stop.
 *
 * Streams wake through `spool.watchJob` (engine/job-watch.ts): one store subscription and one batched read
 * per wake-up for every open stream, never a poll loop per stream. A comment line every HEARTBEAT_MS keeps
 * proxies from timing an idle stream out. A client that goes away stops its watch at once; at shutdown
 * (`preClose`) every stream ends with `retry:` so EventSource reconnects a little later — to another node, or
 * to this one after the restart — rather than into this node's 503.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import type { HistoryEntry } from '../../core/job.js';
import { isTerminal, type JobState } from '../../core/states.js';
import type { Spool } from '../../spool.js';
import { access } from '../route-config.js';
import { errorResponses, JobEventsHeaders, JobParams, NoQuery } from '../schemas/index.js';
import { stateEventJson } from '../views.js';

/** Comment lines this often keep idle streams open through proxies (most time out idle reads at 30–60 s). */
export const HEARTBEAT_MS = 15_000;
/** At shutdown: how long EventSource waits before it reconnects. */
const SHUTDOWN_RETRY_MS = 2_000;

interface OpenStream {
  /** End the stream (with a `retry:` hint first when given). */
  end(retryMs?: number): void;
  write(text: string): void;
}

export function jobEventRoutes(app: FastifyInstance, ctx: { readonly spool: Spool }, options: { heartbeatMs?: number } = {}): void {
  const { spool } = ctx;
  const open = new Set<OpenStream>();
  let heartbeat: NodeJS.Timeout | null = null;
  const heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;

  const track = (stream: OpenStream): void => {
    open.add(stream);
    heartbeat ??= setInterval(() => {
      for (const s of open) s.write(': keep-alive\n\n');
    }, heartbeatMs);
    heartbeat.unref();
  };
  const untrack = (stream: OpenStream): void => {
    open.delete(stream);
    if (open.size === 0 && heartbeat) {
      clearInterval(heartbeat);
      heartbeat = null;
    }
  };

  app.addHook('preClose', (done) => {
    for (const s of [...open]) s.end(SHUTDOWN_RETRY_MS);
    done();
  });

  app.get<{ Params: Static<typeof JobParams>; Headers: Static<typeof JobEventsHeaders> }>(
    '/v1/jobs/:id/events',
    {
      config: access.readJob,
      exposeHeadRoute: false,
      schema: {
        operationId: 'streamJobEvents',
        summary: "A job's state transitions as Server-Sent Events",
        description:
          '`event: state`, `id:` the index of the transition in the job\'s history, `data: {id, state, at, attempt, reason?, error?}`: the current state first, then one event per transition; the stream ends after a terminal state (completed, dead, cancelled). ' +
          'With `Last-Event-ID` (EventSource sends it on reconnect) the transitions after that one are sent instead, and a `Last-Event-ID` at or after the terminal event answers 204, so EventSource stops. ' +
          `A comment line (\`:\`) every ${HEARTBEAT_MS / 1000} s keeps idle streams open. Transitions made on another node are seen within a second.`,
        params: JobParams,
        querystring: NoQuery,
        headers: JobEventsHeaders,
        response: {
          200: { description: 'the event stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
          204: { description: 'nothing more to send: the job had ended at or before Last-Event-ID', type: 'null' },
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      const header = req.headers['last-event-id'];
      const job = await spool.getJob(id);
      const from = header === undefined ? Math.max(0, job.history.length - 1) : Number(header) + 1;
      let next = from;
      if (isTerminal(job.state) && next >= job.history.length) return reply.code(204).send();

      const out = new PassThrough();
      let unwatch: (() => void) | null = null;
      let ended = false;
      const stream: OpenStream = {
        write: (text) => {
          if (!ended) out.write(text);
        },
        end: (retryMs) => {
          if (ended) return;
          if (retryMs !== undefined) out.write(`retry: ${retryMs}\n\n`);
          ended = true;
          unwatch?.();
          untrack(stream);
          out.end();
        },
      };
      /** Send the entries not sent yet; end after a terminal state (or when the job is gone). */
      const advance = (state: JobState | null, history: readonly HistoryEntry[]): void => {
        for (; next < history.length; next++) stream.write(eventText(id, next, history[next]!));
        if (state === null || isTerminal(state)) stream.end();
      };

      reply.raw.on('close', () => {
        // The client went away (or the answer is done): stop watching; nothing is written any more.
        ended = true;
        unwatch?.();
        untrack(stream);
        out.destroy();
      });
      advance(job.state, job.history);
      // Nothing to send yet (resumed at the current state): a comment gets the headers out now.
      if (next === from) stream.write(': waiting for the next transition\n\n');
      if (!ended) {
        track(stream);
        unwatch = spool.watchJob(id, (h) => (h ? advance(h.state, h.history) : advance(null, [])));
      }
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no') // nginx: do not buffer the stream
        .send(out);
    },
  );
}

function eventText(jobId: string, index: number, h: HistoryEntry): string {
  return `event: state\nid: ${index}\ndata: ${JSON.stringify(stateEventJson(jobId, h))}\n\n`;
}
