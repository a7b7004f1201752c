/**
 * A small Server-Sent Events client for tests: one real HTTP request (node:http, on a connection of its own,
 * so closing it closes exactly that socket), its body parsed as the HTML standard's event-stream format
 * (what EventSource does: `event`, `id`, `data`, `retry` fields, `:` comments, a blank line dispatches,
 * CRLF / LF / CR line ends), with the events and comments kept in order.
 */
import { get, type IncomingMessage } from 'node:http';
export interface SseEvent {
  readonly event: string;
  readonly id: string | null;
  readonly data: string;
}

export interface SseStream {
  readonly status: number;
  readonly headers: Headers;
  /** Set for a non-stream answer (204, problem+json). */
  readonly text: string | null;
  readonly events: SseEvent[];
  readonly comments: string[];
  /** The last `retry:` value seen. */
  readonly retry: { ms: number | null };
  /** Resolves when the server ends the stream (rejects on anything but a clean end or close()). */
  readonly ended: Promise<void>;
  /** Resolves once `n` events have arrived (rejects if the stream ends first or after `timeoutMs`). */
  waitForEvents(n: number, timeoutMs?: number): Promise<SseEvent[]>;
  waitForComments(n: number, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  let closed = false;
  const req = get(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  req.on('error', () => undefined);
  const responseHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') responseHeaders.set(k, v);
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retry = { ms: null as number | null };
  const changed = new Set<() => void>();
  let done = false;
  const notify = (): void => {
    for (const f of [...changed]) f();
  };
  const isStream = (res.headers['content-type'] ?? '').startsWith('text/event-stream');
  let text: string | null = null;
  if (!isStream) {
    text = '';
    for await (const chunk of res) text += (chunk as Buffer).toString('utf8');
  }

  const ended = (async () => {
    if (!isStream) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let event = '';
    let data: string[] = [];
    let id: string | null = null;
    let lastId: string | null = null;
    const line = (l: string): void => {
      if (l === '') {
        if (data.length > 0) {
          lastId = id ?? lastId;
          events.push({ event: event || 'message', id: lastId, data: data.join('\n') });
        }
        event = '';
        data = [];
        id = null;
        return;
      }
      if (l.startsWith(':')) {
        comments.push(l.slice(1).trim());
        return;
      }
      const colon = l.indexOf(':');
      const field = colon === -1 ? l : l.slice(0, colon);
      let value = colon === -1 ? '' : l.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) retry.ms = Number(value);
    };
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (;;) {
          const m = /\r\n|\n|\r/.exec(buffer);
          if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) break; // a lone CR may be half a CRLF
          line(buffer.slice(0, m.index));
          buffer = buffer.slice(m.index + m[0].length);
        }
        notify();
      }
    } catch (error) {
      if (!closed) throw error;
    } finally {
      done = true;
      notify();
    }
  })();
  ended.catch(() => undefined);

  const until = (ready: () => boolean, what: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (ready()) finish(resolve);
        else if (done) finish(() => reject(new Error(`the stream ended before ${what} (events: ${JSON.stringify(events)})`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${what} (events: ${JSON.stringify(events)})`))), timeoutMs);
      const finish = (f: () => void): void => {
        clearTimeout(timer);
        changed.delete(check);
        f();
      };
      changed.add(check);
      check();
    });

  return {
    status: res.statusCode ?? 0,
    headers: responseHeaders,
    text,
    events,
    comments,
    retry,
    ended,
    waitForEvents: async (n, timeoutMs = 15_000) => {
      await until(() => events.length >= n, `${n} events`, timeoutMs);
      return events.slice(0, n);
    },
    waitForComments: (n, timeoutMs = 15_000) => until(() => comments.length >= n, `${n} comments`, timeoutMs),
    close: () => {
      closed = true;
      req.destroy();
    },
  };
}
