/**
 * Request and response shapes of the key and audit routes (routes/keys.ts, routes/audit.ts). The scope
 * strings are only typed here; their grammar is checked by scopes.ts, which answers with a precise detail.
 */
import { Type, type Static } from 'typebox';
import { Nullable, Timestamp } from '../schemas/common.js';
import { MAX_KEY_NAME_LENGTH, MAX_KEY_PER_SECOND } from './keys.js';
import { MAX_SCOPES_PER_KEY } from './scopes.js';

export const ScopeString = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'publish:GLOB, consume:GLOB, read:GLOB or admin; GLOB is a queue name in which * matches any run of characters',
});

export const KeyRateLimitSchema = Type.Object(
  { perSecond: Type.Number({ exclusiveMinimum: 0, maximum: MAX_KEY_PER_SECOND, description: 'requests per second with this key, per server node' }) },
  { additionalProperties: false },
);

export const CreateKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: MAX_KEY_NAME_LENGTH }),
    scopes: Type.Array(ScopeString, { minItems: 1, maxItems: MAX_SCOPES_PER_KEY }),
    rateLimit: Type.Optional(KeyRateLimitSchema),
  },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

export const KeyId = Type.String({ pattern: '^key_[0-9a-f]{16}$', description: 'key id: key_ and 16 hex digits' });
export const KeyParams = Type.Object({ id: KeyId }, { additionalProperties: false });

export const KeySchema = Type.Object({
  id: KeyId,
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  rateLimit: Nullable(KeyRateLimitSchema),
  createdAt: Timestamp,
});

export const CreatedKeySchema = Type.Object({
  id: KeyId,
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  rateLimit: Nullable(KeyRateLimitSchema),
  createdAt: Timestamp,
  secret: Type.String({ description: 'the bearer token spool_<id>_<secret>; shown once, only its hash is stored' }),
});

export const KeyListSchema = Type.Object({ keys: Type.Array(KeySchema) });

export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const AuditEntrySchema = Type.Object({
  seq: Type.Integer(),
  at: Timestamp,
  actor: Type.String({ description: 'a key id, admin-token, or open (no SPOOL_ADMIN_TOKEN)' }),
  action: Type.String({ description: 'queue.put, queue.pause, job.cancel, dead.replay, key.create, …' }),
  target: Type.String(),
  detail: Nullable(Type.Unknown()),
});

export const AuditPageSchema = Type.Object({ entries: Type.Array(AuditEntrySchema), nextCursor: Nullable(Type.String()) });
