/**
 * The OpenAPI 3.1 document: generated from the same TypeBox schemas the routes validate with, committed as
 * docs/openapi.json so every API change shows up in review, served at /openapi.json, and linted with the
 * Redocly CLI (recommended rules, docs/redocly.yaml). After changing a route, regenerate the file with
 * `SPOOL_UPDATE_OPENAPI=1 npx vitest run test/server/openapi.test.ts`.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { ROOT } from '../cli/spawn.js';
import { openSqliteSpool, tempDir } from '../engine/harness.js';
import { call } from './api-harness.js';

const FILE = join(ROOT, 'docs', 'openapi.json');

async function generate(): Promise<string> {
  const { spool } = await openSqliteSpool();
  const app = buildApp(spool);
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

describe('OpenAPI document', () => {
  it('docs/openapi.json is exactly what the code generates (SPOOL_UPDATE_OPENAPI=1 rewrites it)', async () => {
    const generated = await generate();
    if (process.env['SPOOL_UPDATE_OPENAPI'] === '1') writeFileSync(FILE, generated);
    const committed = readFileSync(FILE, 'utf8');
    // Line by line, so a failure shows the changed lines rather than two 100 kB strings.
    expect(generated.split('\n')).toEqual(committed.split('\n'));
  });

  it('is served at /openapi.json over HTTP, and documents every /v1 operation with its problem answers', async () => {
    const { spool } = await openSqliteSpool();
    const app = buildApp(spool);
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const served = await call(base, 'GET', '/openapi.json');
      expect(served.status).toBe(200);
      expect(`${JSON.stringify(served.body, null, 2)}\n`).toBe(readFileSync(FILE, 'utf8'));
      const doc = served.body as { openapi: string; paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
      expect(doc.openapi).toBe('3.1.0');
      for (const path of ['/v1/queues', '/v1/queues/{queue}', '/v1/queues/{queue}/jobs', '/v1/queues/{queue}/jobs/batch', '/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/cancel', '/v1/queues/{queue}/dead', '/v1/queues/{queue}/dead/replay', '/v1/queues/{queue}/dead/{id}']) {
        expect(Object.keys(doc.paths)).toContain(path);
      }
      for (const [path, operations] of Object.entries(doc.paths)) {
        if (!path.startsWith('/v1/')) continue;
        for (const [method, op] of Object.entries(operations)) {
          const problems = Object.entries(op.responses).filter(([status]) => Number(status) >= 400);
          expect(problems.length, `${method} ${path} documents no error answer`).toBeGreaterThan(0);
          for (const [, answer] of problems) expect(Object.keys(answer.content ?? {})).toEqual(['application/problem+json']);
        }
      }
    } finally {
      await app.close();
    }
  });

  it('passes the Redocly linter (no errors)', async () => {
    // Lint what the code generates now (equal to the committed file when the first case passes).
    const file = join(tempDir('spool-openapi-'), 'openapi.json');
    writeFileSync(file, await generate());
    const bin = join(ROOT, 'node_modules', '.bin', 'redocly');
    const run = await promisify(execFile)(bin, ['lint', file, '--config', join(ROOT, 'docs', 'redocly.yaml'), '--format', 'json'], {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { code?: number; stdout?: string; stderr?: string }) => ({ ...error, failed: true }));
    const report = JSON.parse((run as { stdout: string }).stdout.slice((run as { stdout: string }).stdout.indexOf('{'))) as {
      problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
    };
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`);
    expect(errors).toEqual([]);
    expect('failed' in run).toBe(false);
  }, 120_000);
});
