/**
 * Scopes of API keys and what they grant: parsing and strict validation of scope strings
 * (`publish:GLOB`, `consume:GLOB`, `read:GLOB`, `admin`) and the queue-glob matcher.
 *
 * Pure: no I/O. Called by keys.ts (validating a new key, decoding a stored one) and by the auth hook in
 * plugin.ts (does this principal hold scope S on queue Q?).
 *
 * Globs: `*` matches any run of queue-name characters (also none); every other character is literal and must
 * be one a queue name may contain (`[A-Za-z0-9._-]`). `orders`, `orders.*`, `*-eu`, `*` are globs;
 * `orders/x`, `order?`, `[ab]` and the empty string are not.
 */

/** The scopes a route can require (a route's `config.scope`; the same union as route-config.ts's). */
export type Scope = 'publish' | 'consume' | 'read' | 'admin';
export const SCOPES: readonly Scope[] = ['publish', 'consume', 'read', 'admin'];
const QUEUE_SCOPES = new Set<string>(['publish', 'consume', 'read']);

export const MAX_SCOPES_PER_KEY = 100;
const MAX_GLOB_LENGTH = 128;
const GLOB = /^[A-Za-z0-9*][A-Za-z0-9._*-]*$/;

/** One parsed scope: `admin`, or a queue scope limited to the queues its glob matches. */
export type Grant = { readonly scope: 'admin' } | { readonly scope: 'publish' | 'consume' | 'read'; readonly glob: string; readonly match: RegExp };

/** Thrown for a scope list that is not valid; `path` is a JSON Pointer into the request body. */
export class ScopeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'ScopeError';
  }
}

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && (SCOPES as readonly string[]).includes(value);
}

/** Compile a glob (already validated) to an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replaceAll('.', '\\.'))
    .join('[A-Za-z0-9._-]*');
  return new RegExp(`^${body}$`);
}

/** Why `glob` is not a valid queue glob, or null when it is. */
export function globProblem(glob: string): string | null {
  if (glob === '') return 'the queue glob is empty (use * for every queue)';
  if (glob.length > MAX_GLOB_LENGTH) return `the queue glob is longer than ${MAX_GLOB_LENGTH} characters`;
  if (!GLOB.test(glob)) {
    return 'a queue glob has queue-name characters [A-Za-z0-9._-] and * only, and starts with a letter, a digit or *';
  }
  return null;
}

/** Parse one scope string; throws ScopeError (at `path`) when it is not `admin` or `publish|consume|read:GLOB`. */
export function parseScope(text: unknown, path = ''): Grant {
  if (typeof text !== 'string') throw new ScopeError(path, 'a scope is a string');
  if (text === 'admin') return { scope: 'admin' };
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  if (kind === 'admin') throw new ScopeError(path, `"${clip(text)}": admin covers every queue and takes no glob; write "admin"`);
  if (!QUEUE_SCOPES.has(kind)) {
    throw new ScopeError(path, `"${clip(text)}" is not a scope (one of publish:GLOB, consume:GLOB, read:GLOB or admin)`);
  }
  if (colon < 0) throw new ScopeError(path, `"${clip(text)}" needs a queue glob: ${kind}:GLOB (e.g. ${kind}:* or ${kind}:orders)`);
  const glob = text.slice(colon + 1);
  const problem = globProblem(glob);
  if (problem) throw new ScopeError(path, `"${clip(text)}": ${problem}`);
  return { scope: kind as 'publish' | 'consume' | 'read', glob, match: globToRegExp(glob) };
}

/**
 * Validate a key's scope list strictly: a non-empty array of at most MAX_SCOPES_PER_KEY valid, distinct scope
 * strings. Paths in errors are relative to the list (`/2`); callers prefix them (`/scopes/2`).
 */
export function parseScopes(list: unknown): Grant[] {
  if (!Array.isArray(list)) throw new ScopeError('', 'scopes is an array of scope strings');
  if (list.length === 0) throw new ScopeError('', 'scopes is empty: a key needs at least one scope');
  if (list.length > MAX_SCOPES_PER_KEY) throw new ScopeError('', `scopes has more than ${MAX_SCOPES_PER_KEY} entries`);
  const seen = new Map<string, number>();
  return list.map((text, i) => {
    const grant = parseScope(text, `/${i}`);
    const first = seen.get(text as string);
    if (first !== undefined) throw new ScopeError(`/${i}`, `"${clip(text as string)}" repeats scopes[${first}]`);
    seen.set(text as string, i);
    return grant;
  });
}

/**
 * Does this set of grants allow `scope` on `queue`? `queue` null means the request may touch every queue
 * (a list or search that names none): then only `admin` or a `*` grant of that scope allows it.
 */
export function grantsAllow(grants: readonly Grant[], scope: Scope, queue: string | null): boolean {
  for (const g of grants) {
    if (g.scope === 'admin') return true;
    if (g.scope !== scope) continue;
    if (queue === null ? g.glob === '*' : g.match.test(queue)) return true;
  }
  return false;
}

/** Does any grant carry `scope` (on some queue)? Cheap pre-check before a queue is known. */
export function grantsMention(grants: readonly Grant[], scope: Scope): boolean {
  return grants.some((g) => g.scope === 'admin' || g.scope === scope);
}

function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
