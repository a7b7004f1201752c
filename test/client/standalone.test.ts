/**
 * `spool/client` is importable on its own: the compiled client reaches no module outside dist/client (no
 * server, engine, store driver, Fastify, pg or better-sqlite3; of Node's own modules only node:crypto, for
 * verifyWebhook), and the package's `exports` entry resolves it by name in a fresh Node process.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../cli/spawn.js';

let build: string;
beforeAll(async () => {
  build = await buildCli();
}, 180_000); // a cold build of src/ (tsc) under a loaded 2-core machine

/** Every module a compiled file loads, followed through relative imports; bare specifiers are reported as is. */
function closure(entry: string): { files: string[]; bare: string[] } {
  const files = new Set<string>();
  const bare = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else bare.add(spec);
    }
  }
  return { files: [...files], bare: [...bare] };
}

describe('spool/client', () => {
  it('loads nothing outside dist/client', () => {
    const dist = join(build, 'dist');
    const { files, bare } = closure(join(dist, 'client', 'index.js'));
    expect(files.map((f) => relative(dist, f)).sort()).toEqual(['client/errors.js', 'client/index.js', 'client/spool-client.js', 'client/webhook-signature.js']);
    expect(bare).toEqual(['node:crypto']);
  });

  it('resolves by the package name through the exports entry and talks HTTP in a fresh process', async () => {
    const script = `
      const { SpoolClient, LeaseLostError, SpoolConnectionError, verifyWebhook } = await import('spool/client');
      const c = new SpoolClient({ url: 'http://127.0.0.1:9' });
      const e = await c.getQueue('q').catch((x) => x);
      console.log(JSON.stringify({ client: typeof SpoolClient, lease: typeof LeaseLostError, connection: e instanceof SpoolConnectionError, verify: typeof verifyWebhook }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: build, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({ client: 'function', lease: 'function', connection: true, verify: 'function' });
  });
});
