/**
 * Identifiers. Job ids are UUIDv7: time-ordered (so "newest first" and cursors follow creation), unguessable
 * enough for status URLs, generated without a database round trip, and the same format on every store.
 * Within one process they are strictly increasing (RFC 9562 §6.2 method 1: a counter in rand_a).
 */
import { randomBytes, randomUUID } from 'node:crypto';

let lastMs = 0;
let counter = 0;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function random(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export function uuidv7(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    counter = random(2).readUInt16BE(0) & 0x07ff; // leave headroom for the counter to grow within one ms
  } else {
    counter++;
    if (counter > 0x0fff) {
      lastMs++; // counter exhausted: borrow the next millisecond, keeping ids monotonic
      counter = 0;
    }
  }
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(lastMs, 0, 6);
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  random(8).copy(b, 8);
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/** A lease token: 122 random bits. It fences every state change a lease holder makes. */
export function leaseToken(): string {
  return randomUUID();
}
