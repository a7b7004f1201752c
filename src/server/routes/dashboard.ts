/**
 * The operator dashboard's static files: `GET /` (the page) and `GET /dashboard/<file>` (its ES modules and
 * CSS from the top-level `dashboard/` directory, plus uPlot's script and stylesheet from node_modules under
 * `/dashboard/vendor/`). The files hold no job data — the page reads everything through the /v1 API with the
 * operator's key — so these routes declare no scope and stay public, like /healthz.
 *
 * Only the files listed when the app is built are served: a request names an entry of that table or gets a
 * 404, so no request path ever reaches the file system (no traversal, no symlink surprises). Every answer
 * carries a strict Content-Security-Policy (scripts, styles and connections from this origin only; no inline
 * script), `nosniff`, and an ETag with `Cache-Control: no-cache` (the names carry no version, so a browser
 * revalidates and gets a 304 while nothing changed).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpProblem } from '../problem.js';

/** `dashboard/` at the package root: ../../../dashboard from src/server/routes (tsx) and dist/server/routes. */
const DASHBOARD_DIR = fileURLToPath(new URL('../../../dashboard/', import.meta.url));

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

function asset(file: string): Asset {
  const body = readFileSync(file);
  const contentType = CONTENT_TYPES[extname(file)];
  if (!contentType) throw new Error(`no content type for ${file}`);
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Every servable file by its path under /dashboard/ (`index.html` is the page, also answered at `/`). */
function dashboardAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(dir, 'index.html'))) return assets; // an install without the page: every path is 404
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !(extname(entry.name) in CONTENT_TYPES)) continue;
    const file = join(entry.parentPath, entry.name);
    assets.set(file.slice(dir.length).split(sep).join('/'), asset(file));
  }
  const require = createRequire(import.meta.url);
  for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) assets.set(`vendor/${name}`, asset(require.resolve(`uplot/dist/${name}`)));
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, found: Asset | undefined): FastifyReply {
  if (!found) throw new HttpProblem('not-found', `no dashboard file at ${req.url.split('?')[0] ?? ''}`);
  reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache')
    .header('etag', found.etag);
  if (req.headers['if-none-match'] === found.etag) return reply.code(304).send();
  return reply.type(found.contentType).send(found.body);
}

let loaded: Map<string, Asset> | undefined;

/** Register the routes; the files are read once per process (about 100 KB), when the first app is built. */
export function dashboardRoutes(app: FastifyInstance): void {
  const assets = (loaded ??= dashboardAssets(DASHBOARD_DIR));
  app.get('/', { schema: { hide: true } }, async (req, reply) => send(req, reply, assets.get('index.html')));
  app.get<{ Params: { '*': string } }>('/dashboard/*', { schema: { hide: true } }, async (req, reply) => send(req, reply, assets.get(req.params['*'])));
}
