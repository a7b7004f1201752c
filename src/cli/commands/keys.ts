/**
 * `spool keys create NAME --scope S… [--rate-limit N]`, `spool keys list`, `spool keys revoke ID`: API keys,
 * either straight in a store (`--db`, e.g. to bootstrap the first keys; audit actor `cli`) or through a
 * running server (`--url` with `--token` / SPOOL_TOKEN, as the admin token or an admin key). Key logic is
 * the server's KeyRegistry (server/auth/keys.ts); over HTTP this is a thin caller of `/v1/keys`.
 */
import type { Command } from 'commander';
import { KeyRegistry, type ApiKey } from '../../server/auth/keys.js';
import { action, openSpool, print, UsageError } from '../shared.js';

interface KeyFlags {
  db?: string;
  url?: string;
  token?: string;
  json?: boolean;
}

interface KeyJson {
  id: string;
  name: string;
  scopes: string[];
  rateLimit: { perSecond: number } | null;
  createdAt: string;
  secret?: string;
}

function keyJson(k: ApiKey, secret?: string): KeyJson {
  return { id: k.id, name: k.name, scopes: [...k.scopes], rateLimit: k.rateLimit, createdAt: k.createdAt.toISOString(), ...(secret ? { secret } : {}) };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];
}

/** One request to a server's key API; a problem answer becomes the one-line failure. */
async function http(flags: KeyFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  const token = flags.token ?? process.env['SPOOL_TOKEN'];
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(new URL(path, flags.url), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    throw new Error(`cannot reach ${flags.url}: ${(error as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? (JSON.parse(text) as unknown) : null;
  } catch {
    throw new Error(`${res.status}: ${flags.url} did not answer JSON`);
  }
  if (!res.ok) {
    const detail = (parsed as { detail?: string } | null)?.detail ?? res.statusText;
    if (res.status === 400) throw new UsageError(detail);
    throw new Error(`${res.status}: ${detail}`);
  }
  return parsed;
}

async function withRegistry<T>(flags: KeyFlags, fn: (keys: KeyRegistry, audit: (action: string, target: string, detail?: unknown) => Promise<void>) => Promise<T>): Promise<T> {
  const spool = await openSpool(flags);
  try {
    const keys = new KeyRegistry(spool.store);
    return await fn(keys, (action, target, detail) =>
      spool.store.auditAppend({ entries: [{ actor: 'cli', action, target, detailJson: detail === undefined ? null : JSON.stringify(detail) }] }),
    );
  } finally {
    await spool.close();
  }
}

function where(cmd: Command): Command {
  return cmd
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL (with --token or SPOOL_TOKEN: the admin token or an admin key)')
    .option('--token <token>', 'bearer token for --url (SPOOL_TOKEN)')
    .option('--json', 'print JSON');
}

function check(flags: KeyFlags): void {
  if (flags.url && flags.db) throw new UsageError('give --db (a store) or --url (a server), not both');
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('API keys: create, list, revoke');

  where(
    keys
      .command('create')
      .description('create a key; its secret is printed once: spool keys create NAME --scope publish:orders --scope read:*')
      .argument('<name>')
      .option('--scope <scope>', 'publish:GLOB, consume:GLOB, read:GLOB or admin (repeat, or comma-separated)', collect)
      .option('--rate-limit <perSecond>', 'requests per second with this key (per server node)'),
  ).action(
    action(async (name: string, flags: KeyFlags & { scope?: string[]; rateLimit?: string }) => {
      check(flags);
      if (!flags.scope || flags.scope.length === 0) throw new UsageError('give at least one --scope (publish:GLOB, consume:GLOB, read:GLOB or admin)');
      let rateLimit: { perSecond: number } | undefined;
      if (flags.rateLimit !== undefined) {
        const n = Number(flags.rateLimit);
        if (!Number.isFinite(n) || n <= 0) throw new UsageError('--rate-limit must be a number of requests per second above 0');
        rateLimit = { perSecond: n };
      }
      const input = { name, scopes: flags.scope, ...(rateLimit ? { rateLimit } : {}) };
      const created = flags.url
        ? ((await http(flags, 'POST', '/v1/keys', input)) as KeyJson)
        : await withRegistry(flags, async (registry, audit) => {
            const { key, token } = await registry.create(input);
            await audit('key.create', key.id, { name: key.name, scopes: key.scopes, rateLimit: key.rateLimit });
            return keyJson(key, token);
          });
      print(flags, created, () => `${created.id} created (${created.scopes.join(' ')})\nsecret (shown once, store it now): ${created.secret}`);
    }),
  );

  where(keys.command('list').description('list keys (never their secrets)')).action(
    action(async (flags: KeyFlags) => {
      check(flags);
      const list = flags.url
        ? ((await http(flags, 'GET', '/v1/keys')) as { keys: KeyJson[] }).keys
        : await withRegistry(flags, async (registry) => (await registry.list()).map((k) => keyJson(k)));
      print(flags, { keys: list }, () =>
        list.length === 0
          ? 'no keys (create one with: spool keys create NAME --scope read:*)'
          : list.map((k) => `${k.id}  ${k.name}  ${k.scopes.join(' ')}${k.rateLimit ? `  ${k.rateLimit.perSecond}/s` : ''}  created ${k.createdAt}`).join('\n'),
      );
    }),
  );

  where(keys.command('revoke').description('revoke a key at once (every server node)').argument('<id>')).action(
    action(async (id: string, flags: KeyFlags) => {
      check(flags);
      if (flags.url) await http(flags, 'DELETE', `/v1/keys/${encodeURIComponent(id)}`);
      else {
        await withRegistry(flags, async (registry, audit) => {
          if (!(await registry.revoke(id))) throw new Error(`key ${id} not found`);
          await audit('key.revoke', id);
        });
      }
      print(flags, { id, revoked: true }, () => `${id} revoked`);
    }),
  );
}
