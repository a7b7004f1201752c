/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by the
 * base64-decoded part of a `whsec_…` secret. A secret without the `whsec_` prefix is used as its UTF-8 bytes.
 * Used by push delivery (push/push-delivery.ts) and by webhook notifications; `verifyWebhook` is what a
 * receiver runs (and what the tests run).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'whsec_';

/** The HMAC key of a secret. */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith(PREFIX) ? Buffer.from(secret.slice(PREFIX.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64>` for this message. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three signature headers for `body`, timestamped now. */
export function webhookHeaders(secret: string, id: string, body: string, nowMs: number = Date.now()): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signWebhook(secret, id, timestamp, body) };
}

/**
 * True when one of the (space-separated) `v1,` signatures matches and the timestamp is within `toleranceSeconds`
 * of now (replay protection, 5 minutes by default as the specification suggests).
 */
export function verifyWebhook(
  secret: string,
  headers: { readonly 'webhook-id'?: string; readonly 'webhook-timestamp'?: string; readonly 'webhook-signature'?: string },
  body: string,
  options: { toleranceSeconds?: number; nowMs?: number } = {},
): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs || !/^[0-9]{1,12}$/.test(ts)) return false;
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(now - Number(ts)) > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhook(secret, id, Number(ts), body));
  return sigs.split(' ').some((s) => {
    const given = Buffer.from(s);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
