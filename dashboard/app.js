// The dashboard's entry point: hash routing (#/queues/emails — every view is linkable), the session (sign in
// on a 401, sign out), and the lifetime of a view: each render gets a context whose timers and requests stop
// when the operator navigates away. Views live in views/*.js and read the HTTP API only (api.js).

import { ApiError, clearToken, describe, getToken, sessionRole, setToken } from './api.js';
import { fill, h, notice } from './dom.js';
import { auditView } from './views/audit.js';
import { deadView } from './views/dead.js';
import { jobView } from './views/job.js';
import { jobsView } from './views/jobs.js';
import { queueView } from './views/queue.js';
import { queuesView } from './views/queues.js';

const ROUTES = [
  [/^queues$/, queuesView, 'queues'],
  [/^queues\/([^/]+)$/, queueView, 'queues'],
  [/^queues\/([^/]+)\/dead$/, deadView, 'queues'],
  [/^jobs$/, jobsView, 'jobs'],
  [/^jobs\/([^/]+)$/, jobView, 'jobs'],
  [/^audit$/, auditView, 'audit'],
];

const view = document.getElementById('view');
const banner = document.getElementById('banner');
const who = document.getElementById('who');
const signOut = document.getElementById('sign-out');

let current = null; // the live view's context

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const pathPart = q < 0 ? raw : raw.slice(0, q);
  let params;
  try {
    params = pathPart.split('/').map(decodeURIComponent);
  } catch {
    params = null; // a malformed %-escape: not a route
  }
  return { path: pathPart.replace(/\/+$/, '') || 'queues', query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)), params };
}

/** A view's context: where to draw, its route parameters, and timers/requests that end with the view. */
function newContext(params, query) {
  const abort = new AbortController();
  const timers = new Set();
  return {
    root: view,
    params,
    query,
    role: null,
    signal: abort.signal,
    get live() {
      return !abort.signal.aborted;
    },
    /** Run `fn` now and then every `ms` after it finishes (never overlapping), until the view ends. */
    async every(ms, fn) {
      const tick = async () => {
        if (abort.signal.aborted) return;
        try {
          if (!document.hidden) await fn();
          if (abort.signal.aborted) return;
          showBanner(null);
        } catch (error) {
          if (!handleError(error, 'refresh')) return;
        }
        if (!abort.signal.aborted) timers.add(setTimeout(tick, ms));
      };
      await fn();
      timers.add(setTimeout(tick, ms));
    },
    /**
     * An event handler for async work (a button's action): leaving the view mid-request is silent, a 401
     * asks for a key, and any other failure the action did not handle itself shows in the banner.
     */
    action(fn) {
      return (...args) =>
        Promise.resolve()
          .then(() => fn(...args))
          .catch((error) => {
            if (!abort.signal.aborted) handleError(error, 'action');
          });
    },
    end() {
      abort.abort();
      for (const t of timers) clearTimeout(t);
    },
  };
}

/** Route and render the current hash. */
async function render() {
  current?.end();
  const { path, query } = parseHash();
  const match = ROUTES.map(([re, fn, nav]) => [re.exec(path), fn, nav]).find(([m]) => m);
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('active', match?.[2] === a.dataset.nav);
  if (!match) {
    fill(view, h('h1', null, 'Not found'), notice('error', 'No such page. ', h('a', { href: '#/queues' }, 'Back to the queues')));
    return;
  }
  let params;
  try {
    params = match[0].slice(1).map(decodeURIComponent);
  } catch {
    fill(view, notice('error', 'Malformed address.'));
    return;
  }
  const ctx = (current = newContext(params, query));
  showBanner(null);
  fill(view, h('p', { class: 'muted' }, 'Loading…'));
  try {
    ctx.role = await sessionRole();
    showSession(ctx.role);
    if (!ctx.live) return;
    fill(view);
    await match[1](ctx);
  } catch (error) {
    if (ctx.live) handleError(error, 'load');
  }
}

/**
 * 401 → the sign-in form (and the view stops); anything else → a message: in place of the view while it
 * loads, in the banner for a refresh or an action. Returns whether a refreshing view should keep refreshing
 * (yes, unless the key is gone: a passing outage must not end the refresh).
 */
function handleError(error, during) {
  if (error?.name === 'AbortError') return false;
  if (error instanceof ApiError && error.status === 401) {
    current?.end();
    showSignIn(error);
    return false;
  }
  const text = describe(error);
  if (during === 'load') fill(view, notice('error', text));
  else showBanner(during === 'refresh' ? `Refresh failed: ${text} (retrying)` : text);
  return true;
}

function showBanner(text) {
  banner.hidden = text === null;
  banner.textContent = text ?? '';
}

/** The header's session line: which kind of key is in use ('admin', 'read', or null while signed out). */
function showSession(role) {
  const signedIn = getToken() !== null;
  signOut.hidden = !signedIn;
  who.textContent = role === null ? '' : role === 'admin' ? (signedIn ? 'admin key' : 'open access (no key needed)') : 'read-only key';
  who.dataset.role = role ?? 'none';
}

function showSignIn(error) {
  showSession(null);
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, 'aria-label': 'API key', placeholder: 'spool_… or the admin token' });
  const form = h(
    'form',
    { class: 'sign-in', on: { submit: (e) => { e.preventDefault(); setToken(input.value.trim()); render(); } } },
    h('h1', null, 'Sign in'),
    h('p', null, 'This server needs a key. A read key shows everything it may read; pausing, replaying, purging and cancelling need an admin key. The key is kept in this browser tab only (session storage) and sent as a Bearer token.'),
    getToken() !== null ? notice('error', `That key was refused: ${error.message}`) : null,
    h('label', null, 'API key ', input),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  fill(view, form);
  input.focus();
}

signOut.addEventListener('click', () => {
  clearToken();
  render();
});
window.addEventListener('hashchange', render);
render();
