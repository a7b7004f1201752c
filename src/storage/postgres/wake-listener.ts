/**
 * Cross-process wake-ups for the PostgreSQL store: LISTEN on the store's channel over one dedicated
 * connection (not from the pool: a pooled client would be handed to queries). Writers send one NOTIFY per
 * committed transaction that made jobs claimable (TxContext.flush); the payload is the JSON list of queue
 * names, or '*' when it would not fit in NOTIFY's 8,000 bytes (then listeners hear "unknown": null).
 *
 * While the listener connection is down, a polling fallback emits `{queues: null}` every `pollMs` so
 * fetchers keep looking, and the connection is re-established with capped, jittered backoff.
 */
import pg from 'pg';
import type { StoreEvent } from '../store.js';
import { quoteIdent } from './connection.js';
import { NOTIFY_ALL } from './tx-context.js';

export interface WakeListenerOptions {
  readonly clientConfig: pg.ClientConfig;
  readonly channel: string;
  readonly emit: (event: StoreEvent) => void;
  readonly onError: (error: Error) => void;
  /** Polling interval while the connection is down. */
  readonly pollMs?: number;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5000;

export class WakeListener {
  readonly #options: WakeListenerOptions;
  #client: pg.Client | null = null;
  #stopped = true;
  #pollTimer: NodeJS.Timeout | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #backoffMs = BACKOFF_MIN_MS;
  /** True once LISTEN is in place (tests and diagnostics). */
  listening = false;

  constructor(options: WakeListenerOptions) {
    this.#options = options;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.listening = false;
    this.#stopPolling();
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = null;
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client(this.#options.clientConfig);
    client.on('error', (error) => {
      this.#options.onError(error);
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    client.on('notification', (msg) => {
      if (msg.channel !== this.#options.channel) return;
      this.#options.emit({ queues: parsePayload(msg.payload) });
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#options.channel)}`);
    } catch (error) {
      this.#options.onError(error as Error);
      this.#lost(client);
      return;
    }
    if (this.#stopped || this.#client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listening = true;
    this.#backoffMs = BACKOFF_MIN_MS;
    if (this.#pollTimer) {
      // Back after an outage: anything may have been committed meanwhile.
      this.#stopPolling();
      this.#options.emit({ queues: null });
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = null;
    this.listening = false;
    client.end().catch(() => undefined);
    if (this.#stopped) return;
    this.#startPolling();
    const delay = Math.round(this.#backoffMs * (0.5 + Math.random()));
    this.#backoffMs = Math.min(BACKOFF_MAX_MS, this.#backoffMs * 2);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      void this.#connect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  #startPolling(): void {
    if (this.#pollTimer) return;
    this.#pollTimer = setInterval(() => this.#options.emit({ queues: null }), this.#options.pollMs ?? 1000);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#pollTimer = null;
  }
}

function parsePayload(payload: string | undefined): string[] | null {
  if (!payload || payload === NOTIFY_ALL) return null;
  try {
    const parsed = JSON.parse(payload) as unknown;
    return Array.isArray(parsed) && parsed.every((q) => typeof q === 'string') ? parsed : null;
  } catch {
    return null;
  }
}
