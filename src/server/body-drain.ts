/**
 * Lingering close for answers given before the request body was read (413 over SPOOL_MAX_BODY_BYTES, and any
 * other refusal sent with `Connection: close` while the client is still sending). Node ends such an answer
 * with `socket.destroySoon()`: the socket closes as soon as the answer is written, the client's next body
 * bytes meet a closed socket, and Node's fetch reports EPIPE / ECONNRESET instead of the 413 it was sent
 * (2 of 6 tries with an 11 MiB body over loopback, issue 11). Here, as nginx's `lingering_close` does, the
 * write side is ended (FIN after the answer) while the rest of the body is read and thrown away, bounded in
 * bytes and in time so a hostile client cannot hold the socket: past either bound the socket is destroyed.
 * Installed by app.ts (an onSend hook); nothing else touches sockets this way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface DrainLimits {
  /** Body bytes read and discarded after the answer, at most. */
  readonly maxBytes: number;
  /** How long the rest of the body may take to arrive, at most. */
  readonly maxMs: number;
}

/** At least 64 MiB or twice the body cap: an honest client a little over the cap always reads the answer. */
export function drainLimitsFor(maxBodyBytes: number): DrainLimits {
  return { maxBytes: Math.max(64 * 1024 * 1024, 2 * maxBodyBytes), maxMs: 10_000 };
}

/**
 * Call before the closing answer is written. Reads and discards the rest of `req`'s body; the socket is
 * closed once the body has ended and the answer is out (the client has sent everything: closing now resets
 * nothing), or at once when a bound is passed.
 */
export function drainThenClose(req: IncomingMessage, res: ServerResponse, limits: DrainLimits): void {
  const socket = req.socket as Socket & { destroySoon?: () => void };
  if (req.complete || socket.destroyed) return; // the body is in: Node's own close loses nothing
  let received = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
  };
  const cut = (): void => {
    stop();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    if (received > limits.maxBytes) cut();
  };
  const timer = setTimeout(cut, limits.maxMs);
  timer.unref();
  req.on('data', onData); // also flows the stream: Node does not dump a body that is being read
  req.once('end', () => {
    stop();
    const close = (): void => {
      if (socket.writable) socket.end();
      if (socket.writableFinished) socket.destroy();
      else socket.once('finish', () => socket.destroy());
    };
    if (res.writableFinished) close();
    else res.once('finish', close);
  });
  socket.once('close', stop);
  // Node calls destroySoon() once a `Connection: close` answer is written: end the write side only (FIN,
  // keep reading); the handlers above close the socket.
  socket.destroySoon = () => {
    if (socket.writable) socket.end();
  };
}
