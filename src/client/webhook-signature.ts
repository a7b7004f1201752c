/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
 * base64-decoded part of a `whsec_…` secret (a secret without the prefix is used as its UTF-8 bytes). Several
 * signatures are separated by spaces (`v1,<new> v1,<old>` while a secret is being rotated).
 *
 * Signing is Spool's side (push delivery, webhook notifications); `verifyWebhook` is the receiver's, exported
 * by `spool` and by `spool/client`. It lives in the client so that a receiver needs nothing but
 * `spool/client`, and it loads nothing but `node:crypto`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';
const DEFAULT_TOLERANCE_SECONDS = 300;

/** The HMAC key of a secret. */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith(PREFIX) ? Buffer.from(secret.slice(PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64>` for this message, over the body's exact bytes. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string | Uint8Array): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * The three signature headers for `body`, timestamped now; with several secrets (a rotation), one signature
 * per secret, in the order given.
 */
export function webhookHeaders(secrets: string | readonly string[], id: string, body: string, nowMs: number = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  const list = typeof secrets === 'string' ? [secrets] : secrets;
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': list.map((s) => signWebhook(s, id, timestamp, body)).join(' '),
  };
}

/** Request headers as Node (`req.headers`), Fastify, Express or the Fetch API (`Headers`) hand them over. */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface VerifyWebhookOptions {
  /** How far `webhook-timestamp` may be from now, in seconds (default 300: replay protection). */
  readonly toleranceSeconds?: number;
  /** "Now" in ms since the epoch (tests). */
  readonly nowMs?: number;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value.join(' ') : (value as string | undefined);
}

/**
 * True when the request is a genuine, fresh webhook: one of the `v1,` signatures in `webhook-signature`
 * matches the body under one of `secrets`, and `webhook-timestamp` is within the tolerance of now.
 *
 * Pass the **raw body bytes** as received (a Buffer, or the exact string): JSON parsed and serialised again
 * may differ by a space or an escape, and the signature is over the bytes. Give several secrets while you
 * roll yours over (Spool signs with the old and the new one during its rotation window).
 */
export function verifyWebhook(
  body: string | Uint8Array,
  headers: WebhookHeaders,
  secrets: string | readonly string[],
  options: VerifyWebhookOptions = {},
): boolean {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !ts || !signatures || !/^[0-9]{1,12}$/.test(ts)) return false;
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(ts)) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS)) return false;
  const given = signatures.split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s));
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = Buffer.from(signWebhook(secret, id, Number(ts), body));
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return true;
  }
  return false;
}
