/**
 * Webhook notifications, the parts without I/O: the internal queue deliveries live in, the shape of a
 * delivery (the payload of a job in `spool.webhooks`, written by the store in the transaction of the
 * transition it reports), the notification body receivers get, and a queue's webhook state (secrets being
 * rotated out, the endpoint disabled by a `410 Gone`) with the rule that updates it when the queue is declared.
 *
 * Written by the stores (storage/webhook-deliveries.ts, queueUpsert, queueWebhookDisable); read by the
 * dispatcher (webhooks/) and the HTTP views.
 */
import { Type, type Static } from 'typebox';
import { DEFAULT_SECRET_ROTATION_SECONDS, type QueueConfig } from './queue-config.js';

/** The internal queue of webhook deliveries (created by migration 6 on both stores). */
export const WEBHOOK_QUEUE = 'spool.webhooks';

/** Attempts a delivery may take; the dispatcher's deadline (3 days by default) ends it long before. */
export const DELIVERY_MAX_ATTEMPTS = 1000;

/** Results larger than this (JSON text) are sent as `result: null`; the receiver reads them at `statusUrl`. */
export const MAX_NOTIFIED_RESULT_CHARS = 64 * 1024;

export const DeliveryEventSchema = Type.Object({
  type: Type.Union([Type.Literal('job.completed'), Type.Literal('job.dead'), Type.Literal('job.cancelled')]),
  /** The transition's time, ISO-8601 UTC. */
  timestamp: Type.String(),
  data: Type.Object({
    id: Type.String(),
    queue: Type.String(),
    state: Type.Union([Type.Literal('completed'), Type.Literal('dead'), Type.Literal('cancelled')]),
    result: Type.Unknown(),
    lastError: Type.Union([Type.Null(), Type.Object({ message: Type.String(), name: Type.Optional(Type.String()), code: Type.Optional(Type.String()) })]),
    /** `/v1/jobs/{id}`: the dispatcher makes it absolute with the server's public URL when it sends. */
    statusUrl: Type.String(),
  }),
});

/**
 * A delivery as stored: where to, how to sign (the secret's source, read at send time so a rotation applies
 * to deliveries already waiting), the trace context, and the notification itself.
 */
export const DeliverySchema = Type.Object({
  /** `webhook`: the queue's webhook (subject to its disabled state); `callback`: the job's callbackUrl. */
  kind: Type.Union([Type.Literal('webhook'), Type.Literal('callback')]),
  /** The job's queue, whose webhook secret signs (a callback without one is signed with SPOOL_WEBHOOK_SECRET). */
  queue: Type.String(),
  url: Type.String(),
  traceparent: Type.Union([Type.String(), Type.Null()]),
  event: DeliveryEventSchema,
});

export type Delivery = Static<typeof DeliverySchema>;
export type DeliveryEvent = Static<typeof DeliveryEventSchema>;

/** A queue's webhook beyond its config: kept in the queue row, changed by declarations and by a `410`. */
export interface WebhookState {
  /** When the endpoint answered `410 Gone`: deliveries to the queue's webhook end at once until it is set again. */
  readonly disabledAt: Date | null;
  readonly disabledReason: string | null;
  /** Replaced secrets that still sign alongside the current one, each until its time. */
  readonly previousSecrets: ReadonlyArray<{ readonly secret: string; readonly until: Date }>;
}

interface StoredState {
  d?: number;
  r?: string;
  p?: Array<{ s: string; u: number }>;
}

export function decodeWebhookState(text: string | null): WebhookState | null {
  if (text === null) return null;
  const s = JSON.parse(text) as StoredState;
  return {
    disabledAt: s.d === undefined ? null : new Date(s.d),
    disabledReason: s.r ?? null,
    previousSecrets: (s.p ?? []).map((p) => ({ secret: p.s, until: new Date(p.u) })),
  };
}

export function encodeWebhookState(state: WebhookState | null): string | null {
  if (state === null || (state.disabledAt === null && state.previousSecrets.length === 0)) return null;
  const s: StoredState = {};
  if (state.disabledAt) s.d = state.disabledAt.getTime();
  if (state.disabledReason) s.r = state.disabledReason;
  if (state.previousSecrets.length > 0) s.p = state.previousSecrets.map((p) => ({ s: p.secret, u: p.until.getTime() }));
  return JSON.stringify(s);
}

/**
 * The state after a queue is declared with `config` (its previous config and state given, or null for a new
 * queue): declaring a webhook sets it again, which re-enables it; a changed secret keeps the old one signing
 * for `secretRotationSeconds`; expired old secrets are dropped; a queue without a webhook has no state.
 */
export function webhookStateAfterDeclare(
  before: { readonly config: QueueConfig; readonly webhookState: WebhookState | null } | null,
  config: QueueConfig,
  nowMs: number,
): WebhookState | null {
  const hook = config.webhook;
  if (!hook) return null;
  const kept = (before?.webhookState?.previousSecrets ?? []).filter((p) => p.until.getTime() > nowMs && p.secret !== hook.secret);
  const old = before?.config.webhook?.secret;
  const windowMs = (hook.secretRotationSeconds ?? DEFAULT_SECRET_ROTATION_SECONDS) * 1000;
  const previousSecrets =
    old !== undefined && old !== hook.secret && windowMs > 0 ? [{ secret: old, until: new Date(nowMs + windowMs) }, ...kept.filter((p) => p.secret !== old)] : kept;
  return { disabledAt: null, disabledReason: null, previousSecrets };
}

/** The secrets that sign a queue webhook's deliveries now: the current one first, then those still rotating out. */
export function signingSecrets(config: QueueConfig, state: WebhookState | null, nowMs: number): string[] {
  if (!config.webhook) return [];
  return [config.webhook.secret, ...(state?.previousSecrets ?? []).filter((p) => p.until.getTime() > nowMs).map((p) => p.secret)];
}
