/**
 * API keys: creation, listing, revocation and verification of bearer tokens, kept as store records of kind
 * `key` (one record per key, named by the key id). Called by the key routes, the auth hook and the CLI; it
 * reaches the store only through the seam's record calls and writes no SQL.
 *
 * A token is `spool_<id>_<secret>`: `id` is `key_` + 16 hex digits (public, the record's name, so a lookup is
 * one primary-key read), `secret` is 32 bytes from the CSPRNG in base64url (256 bits). Only SHA-256(secret) is
 * stored and the comparison is `crypto.timingSafeEqual` over the two digests.
 *
 * Why a fast hash and not bcrypt/scrypt/argon2: a slow KDF protects low-entropy secrets (human passwords) from
 * offline guessing. A 256-bit random secret cannot be guessed offline whatever the hash costs — 2^255 SHA-256
 * evaluations on average — so stretching adds nothing, while 50–100 ms of KDF work on every authenticated
 * request would cap the accept path at a few dozen requests per second per core and hand anyone with a
 * syntactically valid token a cheap way to burn CPU.
 *
 * No cache: `verify` reads the record on every call, so a revocation (a record delete) is seen by the next
 * request on every node that shares the store.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Store, StoredRecord } from '../../storage/store.js';
import { parseScopes, ScopeError, type Grant } from './scopes.js';

export interface KeyRateLimit {
  readonly perSecond: number;
}

/** A key as listed: never its secret or hash. */
export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly rateLimit: KeyRateLimit | null;
  readonly createdAt: Date;
}

/** A key as the auth hook sees it after a successful verification. */
export interface VerifiedKey extends ApiKey {
  readonly grants: readonly Grant[];
}

export interface CreateKeyInput {
  readonly name: unknown;
  readonly scopes: unknown;
  readonly rateLimit?: unknown;
}

/** A key whose token the caller made: the full `token`, or `id` + `secretSha256` (see `declare`). */
export interface DeclareKeyInput extends CreateKeyInput {
  readonly token?: unknown;
  readonly id?: unknown;
  readonly secretSha256?: unknown;
}

const DECLARE_FIELDS = new Set(['name', 'scopes', 'rateLimit', 'token', 'id', 'secretSha256']);

/** What the store keeps in the record's value (the id is the record's name, createdAt its creation time). */
interface KeyValue {
  readonly name: string;
  readonly scopes: string[];
  readonly rateLimit: KeyRateLimit | null;
  /** `sha256:<hex>` of the secret part of the token. */
  readonly secretHash: string;
}

export const TOKEN_PREFIX = 'spool_';
const KEY_ID = /^key_[0-9a-f]{16}$/;
const TOKEN = /^spool_(key_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
export const MAX_KEY_NAME_LENGTH = 200;
export const MAX_KEY_PER_SECOND = 1_000_000;

export function isKeyId(value: string): boolean {
  return KEY_ID.test(value);
}

/** Split a bearer token into key id and secret; null when it does not have the key-token shape. */
export function parseKeyToken(token: string): { id: string; secret: string } | null {
  const m = TOKEN.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : null;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time comparison of two strings through their SHA-256 digests (equal length by construction). */
export function sameSecret(given: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(sha256(given), expectedDigest);
}

export class KeyRegistry {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Create a key; `token` is the bearer token, returned here once and never stored. */
  async create(input: CreateKeyInput): Promise<{ key: ApiKey; token: string }> {
    const value = validateInput(input);
    for (let attempt = 0; ; attempt++) {
      const id = `key_${randomBytes(8).toString('hex')}`;
      const secret = randomBytes(32).toString('base64url');
      const stored: KeyValue = { ...value, secretHash: `sha256:${sha256(secret).toString('hex')}` };
      const r = await this.#store.recordPut({ kind: 'key', name: id, valueJson: JSON.stringify(stored), expectVersion: null });
      if (r.ok && r.record) return { key: toApiKey(r.record, stored), token: `${TOKEN_PREFIX}${id}_${secret}` };
      // A 64-bit id collision: astronomically unlikely, never overwrite — draw again.
      if (attempt >= 3) throw new Error('could not allocate a key id');
    }
  }

  async list(): Promise<ApiKey[]> {
    const records = await this.#store.recordList({ kind: 'key' });
    return records.map((r) => toApiKey(r, decode(r)));
  }

  async get(id: string): Promise<ApiKey | null> {
    if (!isKeyId(id)) return null;
    const r = await this.#store.recordGet({ kind: 'key', name: id });
    return r ? toApiKey(r, decode(r)) : null;
  }

  /**
   * Create or update a key whose secret the caller already holds (a `--config` file entry): by its full
   * token, or by `id` and `secretSha256` (hex SHA-256 of the token's secret part) so that the file need not
   * hold the secret. Idempotent: `changed` is false (and nothing is written) when the stored key is already
   * exactly this; `created` tells a new key from an update.
   */
  async declare(input: DeclareKeyInput): Promise<{ key: ApiKey; created: boolean; changed: boolean }> {
    const extra = Object.keys(input).filter((k) => !DECLARE_FIELDS.has(k));
    if (extra.length) throw new KeyInputError(`/${extra[0]}`, 'is not allowed (token or id + secretSha256, scopes, rateLimit)');
    const value = validateInput(input);
    let id: string;
    let hashHex: string;
    if (input.token !== undefined) {
      if (input.id !== undefined || input.secretSha256 !== undefined) throw new KeyInputError('/token', 'give token, or id and secretSha256, not both');
      const parsed = typeof input.token === 'string' ? parseKeyToken(input.token) : null;
      if (!parsed) throw new KeyInputError('/token', 'not a key token (spool_key_<16 hex digits>_<43 base64url characters>)');
      id = parsed.id;
      hashHex = sha256(parsed.secret).toString('hex');
    } else {
      if (typeof input.id !== 'string' || !isKeyId(input.id)) throw new KeyInputError('/id', 'a key id (key_ and 16 hex digits), with secretSha256 — or give token');
      if (typeof input.secretSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(input.secretSha256)) {
        throw new KeyInputError('/secretSha256', "the SHA-256 of the token's secret part: 64 lower-case hex digits");
      }
      id = input.id;
      hashHex = input.secretSha256;
    }
    const stored: KeyValue = { ...value, secretHash: `sha256:${hashHex}` };
    const valueJson = JSON.stringify(stored);
    const before = await this.#store.recordGet({ kind: 'key', name: id });
    if (before && before.valueJson === valueJson) return { key: toApiKey(before, stored), created: false, changed: false };
    const r = await this.#store.recordPut({ kind: 'key', name: id, valueJson });
    return { key: toApiKey(r.record!, stored), created: r.created, changed: true };
  }

  /** Revoke (delete) a key; true when it existed. Effective for the next request on every node. */
  async revoke(id: string): Promise<boolean> {
    if (!isKeyId(id)) return false;
    return this.#store.recordDelete({ kind: 'key', name: id });
  }

  /**
   * The key a bearer token belongs to, or null when the token is not a key token, names no key (unknown or
   * revoked) or carries the wrong secret. One primary-key read per call; the digest comparison runs whether
   * or not the key exists, so the answer time does not tell a wrong secret from an unknown id.
   */
  async verify(token: string): Promise<VerifiedKey | null> {
    const parsed = parseKeyToken(token);
    if (!parsed) return null;
    const record = await this.#store.recordGet({ kind: 'key', name: parsed.id });
    const value = record ? decode(record) : null;
    const expected = value ? Buffer.from(value.secretHash.slice('sha256:'.length), 'hex') : DUMMY_DIGEST;
    const ok = sameSecret(parsed.secret, expected.length === 32 ? expected : DUMMY_DIGEST);
    if (!ok || !record || !value) return null;
    return { ...toApiKey(record, value), grants: parseScopes(value.scopes) };
  }
}

const DUMMY_DIGEST = sha256('spool: no such key');

/** A key's input is invalid; `path` is a JSON Pointer into the create request (`/scopes/1`). */
export class KeyInputError extends InvalidArgumentError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path.slice(1) || 'key'}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

function validateInput(input: CreateKeyInput): Omit<KeyValue, 'secretHash'> {
  const { name, scopes, rateLimit } = input;
  if (typeof name !== 'string' || name.trim() === '') throw new KeyInputError('/name', 'a key needs a non-empty name');
  if (name.length > MAX_KEY_NAME_LENGTH) throw new KeyInputError('/name', `longer than ${MAX_KEY_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new KeyInputError('/name', 'control characters are not allowed');
  try {
    parseScopes(scopes);
  } catch (error) {
    if (error instanceof ScopeError) throw new KeyInputError(`/scopes${error.path}`, error.message);
    throw error;
  }
  let limit: KeyRateLimit | null = null;
  if (rateLimit !== undefined && rateLimit !== null) {
    if (typeof rateLimit !== 'object' || Array.isArray(rateLimit)) throw new KeyInputError('/rateLimit', 'an object {perSecond}');
    const extra = Object.keys(rateLimit).filter((k) => k !== 'perSecond');
    if (extra.length) throw new KeyInputError(`/rateLimit/${extra[0]}`, 'is not allowed');
    const perSecond = (rateLimit as { perSecond?: unknown }).perSecond;
    if (typeof perSecond !== 'number' || !Number.isFinite(perSecond) || perSecond <= 0 || perSecond > MAX_KEY_PER_SECOND) {
      throw new KeyInputError('/rateLimit/perSecond', `a number above 0 and at most ${MAX_KEY_PER_SECOND}`);
    }
    limit = { perSecond };
  }
  return { name, scopes: [...(scopes as string[])], rateLimit: limit };
}

function decode(record: StoredRecord): KeyValue {
  return JSON.parse(record.valueJson) as KeyValue;
}

function toApiKey(record: StoredRecord, value: KeyValue): ApiKey {
  return { id: record.name, name: value.name, scopes: value.scopes, rateLimit: value.rateLimit, createdAt: record.createdAt };
}
