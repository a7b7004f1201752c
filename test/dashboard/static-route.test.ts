/**
 * The dashboard's static route over plain HTTP (no browser): `/` and `/dashboard/<file>` are public while
 * /v1 still needs a token; every answer carries the strict Content-Security-Policy, `nosniff` and an ETag
 * (304 on revalidation); content types are right; every file the page references — scripts, stylesheets,
 * and each module's imports — is served; unknown files and every path-traversal spelling are 404 without a
 * byte of the file they aim at. Also from the compiled CLI (`spool serve` from dist/ finds the directory).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestScope, ROOT, spoolLong } from '../cli/spawn.js';
import { ADMIN, call, startServer } from '../server/auth-harness.js';

const DIR = join(ROOT, 'dashboard');

/** GET a path byte for byte as given (fetch would normalise `..` and `%2e` before sending). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function expectHardened(headers: Headers): void {
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
  expect(headers.get('cache-control')).toBe('no-cache');
}

describe('the dashboard route', () => {
  it('serves the page at / publicly, with a strict CSP and no inline script, while /v1 still needs a token', async () => {
    const s = await startServer();
    const page = await call(s.base, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expectHardened(page.headers);
    expect(page.text).toBe(readFileSync(join(DIR, 'index.html'), 'utf8'));
    // Every <script> has a src (CSP allows no inline script), and there are no inline handlers or styles.
    const scripts = [...page.text.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const attrs of scripts) expect(attrs).toMatch(/\bsrc="/);
    expect(page.text).not.toMatch(/\son[a-z]+=|\sstyle=/i);

    expect((await call(s.base, 'GET', '/v1/queues')).status).toBe(401);
    expect((await call(s.base, 'GET', '/v1/queues', { token: ADMIN })).status).toBe(200);
    expect((await call(s.base, 'POST', '/')).status).toBe(405);
  });

  it('serves every file the page references and every module import, with the right content types', async () => {
    const s = await startServer();
    const html = readFileSync(join(DIR, 'index.html'), 'utf8');
    const referenced = [...html.matchAll(/(?:src|href)="(dashboard\/[^"]+)"/g)].map((m) => m[1]!);
    expect(referenced).toEqual(expect.arrayContaining(['dashboard/app.js', 'dashboard/style.css', 'dashboard/vendor/uPlot.iife.min.js', 'dashboard/vendor/uPlot.min.css']));
    const modules = readdirSync(DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    const imports = modules.flatMap((f) =>
      [...readFileSync(join(DIR, f), 'utf8').matchAll(/^import .* from '(\.{1,2}\/[^']+)';$/gm)].map((m) => join('dashboard', f, '..', m[1]!)),
    );
    expect(imports.length).toBeGreaterThan(5);
    const types: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
    for (const path of new Set([...referenced, ...imports, ...modules.map((f) => join('dashboard', f))])) {
      const r = await call(s.base, 'GET', `/${path}`);
      expect({ path, status: r.status }).toEqual({ path, status: 200 });
      expect(r.headers.get('content-type')).toBe(types[path.slice(path.lastIndexOf('.'))]);
      expectHardened(r.headers);
    }
    // uPlot comes from node_modules, byte for byte.
    const uplot = await call(s.base, 'GET', '/dashboard/vendor/uPlot.iife.min.js');
    expect(uplot.text).toBe(readFileSync(join(ROOT, 'node_modules/uplot/dist/uPlot.iife.min.js'), 'utf8'));
  });

  it('answers 304 to a matching If-None-Match and 200 to a stale one', async () => {
    const s = await startServer();
    const first = await rawGet(s.base, '/dashboard/app.js');
    const etag = String(first.headers['etag']);
    expect((await rawGet(s.base, '/dashboard/app.js', { 'if-none-match': etag })).status).toBe(304);
    expect((await rawGet(s.base, '/dashboard/app.js', { 'if-none-match': '"stale"' })).status).toBe(200);
  });

  it('answers 404 (problem+json, never file contents) for unknown files and every path-traversal spelling', async () => {
    const s = await startServer();
    const secret = readFileSync(join(ROOT, 'package.json'), 'utf8').slice(0, 40);
    const paths = [
      '/dashboard/',
      '/dashboard/nope.js',
      '/dashboard/app.ts',
      '/dashboard/views',
      '/dashboard/../package.json',
      '/dashboard/%2e%2e/package.json',
      '/dashboard/..%2fpackage.json',
      '/dashboard/%2e%2e%2f%2e%2e%2fpackage.json',
      '/dashboard/views/..%2f..%2fpackage.json',
      '/dashboard/vendor/../../package.json',
      '/dashboard/vendor/uPlot.cjs.js',
      '/dashboard/vendor/..%2f..%2fnode_modules%2fuplot%2fpackage.json',
      '/dashboard//etc/passwd',
      '/dashboard/%2Fetc%2Fpasswd',
      '/dashboard/app.js%00.html',
      '/dashboard/..\\package.json',
      '/dashboard/.%2e/package.json',
    ];
    for (const path of paths) {
      const r = await rawGet(s.base, path);
      expect({ path, status: r.status }).toEqual({ path, status: 404 });
      expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(r.body).not.toContain(secret);
      expect(r.body).not.toContain('root:');
    }
  });
});

describe('the dashboard from the compiled CLI', () => {
  const { tmp, procs } = cliTestScope();

  it('spool serve (dist/) finds dashboard/ beside it and serves the page and its modules', async () => {
    const dir = tmp.make('spool-dashboard-');
    const server = spoolLong(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'a.db')}`]);
    procs.push(server);
    const base = (await server.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)$/m))[1]!;
    const page = await call(base, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('dashboard/app.js');
    expect((await call(base, 'GET', '/dashboard/views/queues.js')).status).toBe(200);
    expect((await call(base, 'GET', '/dashboard/vendor/uPlot.min.css')).status).toBe(200);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
