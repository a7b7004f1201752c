/**
 * The audit log's write side for route modules: `audit(request, action, target, detail)` appends one entry
 * with the request's actor (a key id, `admin-token`, or `open`) through the store seam's `auditAppend`.
 * Called by admin routes after the action succeeded (queue put, pause/resume, cancel, DLQ replay/purge, key
 * create/revoke, …); the read side is routes/audit.ts. Awaited: when the answer is sent, the entry is
 * committed. Secrets never reach the log: every `secret` field of the detail (a queue's webhook or target
 * secret) is written as `[redacted]`, and key secrets are never passed in.
 *
 * Actions are dotted nouns + verbs: `queue.put`, `queue.pause`, `queue.resume`, `job.cancel`, `dead.replay`,
 * `dead.purge`, `key.create`, `key.revoke` (later: `topic.put`, `schedule.put`, `schedule.delete`, …).
 */
import type { FastifyRequest } from 'fastify';
import { principalOf } from './plugin.js';

export const REDACTED = '[redacted]';

export async function audit(request: FastifyRequest, action: string, target: string, detail?: unknown): Promise<void> {
  const actor = principalOf(request).actor;
  const detailJson = detail === undefined || detail === null ? null : JSON.stringify(detail, (key, value: unknown) => (key === 'secret' && value != null ? REDACTED : value));
  await request.server.spoolAuth.store.auditAppend({ entries: [{ actor, action, target, detailJson }] });
}
