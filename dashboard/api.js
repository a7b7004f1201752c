// The dashboard's only way to data: the Spool HTTP API (/v1), with the operator's key as a Bearer token.
// The key lives in sessionStorage (this tab, until it closes or "Sign out") — never localStorage, never a URL.
// A 401 surfaces as ApiError(401): the app then asks for a key. URLs are relative to the page, so the
// dashboard works behind a proxy that mounts Spool under a path.

const TOKEN_KEY = 'spool.token';
let role = null; // 'admin' | 'read' for the current key, once asked (sessionRole)

export class ApiError extends Error {
  /** @param {number} status @param {any} problem the problem+json body, when there is one */
  constructor(status, problem, fallback) {
    super(problem && typeof problem.detail === 'string' ? problem.detail : fallback || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
  }
}

/** A readable sentence for a failed call; a 403 says the key lacks the scope. */
export function describe(error) {
  if (error instanceof ApiError) {
    if (error.status === 403) return `Refused (403): ${error.message}. This key may not do that.`;
    const title = error.problem && typeof error.problem.title === 'string' ? ` ${error.problem.title}` : '';
    return `${error.status}${title}: ${error.message}`;
  }
  return `Could not reach the server: ${error && error.message ? error.message : String(error)}`;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  role = null;
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  role = null;
}

/** `v1/...` path segments, each percent-encoded: path('queues', name, 'dead'). */
export function path(...segments) {
  return 'v1/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

function request(method, url, { body, query, signal } = {}) {
  const target = new URL(url, document.baseURI);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') target.searchParams.set(k, String(v));
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(target, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store', credentials: 'omit' });
}

async function failure(res) {
  const text = await res.text();
  let problem = null;
  try {
    problem = JSON.parse(text);
  } catch {
    problem = null;
  }
  return new ApiError(res.status, problem, text.slice(0, 200));
}

/** One JSON call: resolves to the parsed body (null for 204), rejects with ApiError for any non-2xx. */
export async function api(method, url, options = {}) {
  const res = await request(method, url, options);
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return null;
  return res.json();
}

/**
 * The first `maxBytes` of a body as text, for previews: a payload may be megabytes, and the rest is never
 * downloaded. Resolves to {text, truncated}.
 */
export async function apiTextPrefix(url, maxBytes, options = {}) {
  const res = await request('GET', url, options);
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let kept = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: text + decoder.decode(), truncated: false };
    const room = maxBytes - kept;
    if (value.byteLength > room) {
      // stream: true holds back a multi-byte character cut at the boundary instead of garbling it.
      text += decoder.decode(value.subarray(0, room), { stream: true });
      reader.cancel().catch(() => {});
      return { text, truncated: true };
    }
    kept += value.byteLength;
    text += decoder.decode(value, { stream: true });
  }
}

/**
 * What this session may do: 'admin' (actions allowed) or 'read'. Asked once per key with the cheapest
 * admin-only read (one audit entry): 200 → admin, 403 → read. A 401 rejects (the app asks for a key).
 */
export async function sessionRole() {
  if (role) return role;
  try {
    await api('GET', 'v1/audit', { query: { limit: 1 } });
    role = 'admin';
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 403) throw error;
    role = 'read';
  }
  return role;
}
