/**
 * `spool serve` as a real process on every store, its stderr read as the operator would: JSON job event lines
 * at SPOOL_LOG_LEVEL, carrying the job id, queue, attempt, correlation id and the trace id of the request's
 * `traceparent`. The process runs with `@opentelemetry/api` made unresolvable (a module resolve hook) and
 * SPOOL_OTEL=1: Spool logs one warning and works without it — the optional peer really is optional.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cliMain, LongRunning, TempDirs } from '../cli/spawn.js';
import { forEachStore, onCleanup } from '../engine/harness.js';

const tmp = new TempDirs();
beforeAll(buildCli);
afterEach(() => tmp.cleanup());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)$/m;

/** Files that make `@opentelemetry/*` unresolvable in the child, as if the optional peer were not installed. */
function withoutOpenTelemetry(dir: string): string {
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: 'ERR_MODULE_NOT_FOUND' });
  return next(specifier, context);
}\n`,
  );
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  return join(dir, 'register.mjs');
}

forEachStore((store) => {
  describe('spool serve › job event logs on stderr', () => {
    it('logs started/completed with the job’s fields and trace id at debug; SPOOL_OTEL=1 without the API warns once and works', async () => {
      const location = await store.newLocation();
      onCleanup(() => location.dispose());
      const dir = tmp.make('spool-obs-');
      writeFileSync(join(dir, 'spool.json'), JSON.stringify({ queues: { traced: {} } }));
      writeFileSync(join(dir, 'handlers.mjs'), `export default { traced: async (payload, ctx) => ({ traceparent: ctx.traceparent, traceId: ctx.traceId }) };\n`);
      const register = withoutOpenTelemetry(dir);
      const server = new LongRunning(
        ['--import', register, cliMain(), 'serve', '--db', location.url, '--port', '0', '--config', join(dir, 'spool.json'), '--handlers', join(dir, 'handlers.mjs')],
        { env: { SPOOL_LOG_LEVEL: 'debug', SPOOL_OTEL: '1' } },
      );
      onCleanup(() => void server.kill());
      const base = (await server.waitForLine(LISTENING))[1]!;

      const accepted = await fetch(`${base}/v1/queues/traced/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: TRACEPARENT, 'x-correlation-id': 'order-42' },
        body: JSON.stringify({ payload: { n: 1 } }),
      });
      expect(accepted.status).toBe(202);
      const { id } = (await accepted.json()) as { id: string };
      const done = (await (await fetch(`${base}/v1/jobs/${id}?waitSeconds=15`)).json()) as { state: string; result: unknown };
      expect(done).toMatchObject({ state: 'completed', result: { traceparent: TRACEPARENT, traceId: TRACE_ID } });
      expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });

      const lines = server.stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const otel = lines.filter((l) => /OpenTelemetry/.test(String(l['msg'])));
      expect(otel).toEqual([expect.objectContaining({ level: 40, msg: expect.stringMatching(/could not be loaded: tracing is off/) })]);
      const fields = { jobId: id, queue: 'traced', attempt: 1, correlationId: 'order-42', traceId: TRACE_ID };
      expect(lines.filter((l) => l['jobId'] === id).map((l) => [l['event'], l['level']])).toEqual([
        ['job.started', 20],
        ['job.completed', 20],
      ]);
      for (const line of lines.filter((l) => l['jobId'] === id)) expect(line).toMatchObject({ ...fields, name: 'spool' });
    });
  });
});
