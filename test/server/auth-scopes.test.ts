import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { isKeyId, parseKeyToken } from '../../src/server/auth/keys.js';
import { KeyRateLimiter } from '../../src/server/auth/rate-limit.js';
import { grantsAllow, parseScope, parseScopes, ScopeError } from '../../src/server/auth/scopes.js';

describe('parseScope', () => {
  it('accepts admin and publish|consume|read with a queue glob', () => {
    expect(parseScope('admin')).toEqual({ scope: 'admin' });
    for (const text of ['publish:*', 'consume:orders', 'read:orders.*', 'read:*-eu', 'publish:a*b*c', 'consume:Q_1-x.y']) {
      expect(parseScope(text).scope).toBe(text.split(':')[0]);
    }
  });

  it.each([
    ['', /not a scope/],
    ['publish', /needs a queue glob/],
    ['publish:', /glob is empty/],
    ['admin:*', /admin covers every queue/],
    ['Publish:*', /not a scope/],
    ['write:*', /not a scope/],
    ['publish:orders/x', /queue-name characters/],
    ['publish:order?', /queue-name characters/],
    ['publish:[ab]', /queue-name characters/],
    ['publish:.hidden', /starts with a letter/],
    ['publish: orders', /queue-name characters/],
    ['read:orders:eu', /queue-name characters/],
    [`read:${'a'.repeat(129)}`, /longer than 128/],
  ])('refuses %j with a clear reason', (text, reason) => {
    expect(() => parseScope(text)).toThrow(reason);
  });

  it('refuses non-strings, empty and repeated lists, with the failing index as a pointer', () => {
    expect(() => parseScopes('admin')).toThrow(/array/);
    expect(() => parseScopes([])).toThrow(/at least one scope/);
    expect(() => parseScopes(['read:*', 5])).toThrow(ScopeError);
    try {
      parseScopes(['read:*', 'publish:a', 'read:*']);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ScopeError);
      expect((error as ScopeError).path).toBe('/2');
      expect((error as ScopeError).message).toMatch(/repeats scopes\[0\]/);
    }
    expect(() => parseScopes(Array.from({ length: 101 }, (_, i) => `read:q${i}`))).toThrow(/more than 100/);
  });
});

describe('grantsAllow', () => {
  const grants = parseScopes(['publish:orders*', 'read:*', 'consume:eu.billing']);

  it('matches globs against whole queue names, * spanning any run of name characters', () => {
    expect(grantsAllow(grants, 'publish', 'orders')).toBe(true);
    expect(grantsAllow(grants, 'publish', 'orders.eu-1')).toBe(true);
    expect(grantsAllow(grants, 'publish', 'xorders')).toBe(false);
    expect(grantsAllow(grants, 'consume', 'eu.billing')).toBe(true);
    expect(grantsAllow(grants, 'consume', 'euxbilling')).toBe(false); // '.' is literal, not "any character"
    expect(grantsAllow(grants, 'consume', 'eu.billing2')).toBe(false);
    expect(grantsAllow(grants, 'read', 'anything')).toBe(true);
  });

  it('a scope never implies another, and only admin allows admin', () => {
    expect(grantsAllow(grants, 'consume', 'orders')).toBe(false);
    expect(grantsAllow(grants, 'admin', 'orders')).toBe(false);
    expect(grantsAllow(parseScopes(['admin']), 'consume', 'x')).toBe(true);
    expect(grantsAllow(parseScopes(['admin']), 'admin', null)).toBe(true);
  });

  it('a request spanning every queue (null) needs a * grant of that scope', () => {
    expect(grantsAllow(grants, 'read', null)).toBe(true);
    expect(grantsAllow(grants, 'publish', null)).toBe(false);
    expect(grantsAllow(parseScopes(['read:o*']), 'read', null)).toBe(false);
  });
});

describe('key tokens', () => {
  it('carry the key id: spool_<key_16hex>_<43 base64url>', () => {
    const secret = 'A'.repeat(20) + '_-' + 'b'.repeat(21);
    expect(parseKeyToken(`spool_key_0123456789abcdef_${secret}`)).toEqual({ id: 'key_0123456789abcdef', secret });
    expect(parseKeyToken(`spool_key_0123456789abcdef_${secret}x`)).toBeNull();
    expect(parseKeyToken(`spool_key_0123456789ABCDEF_${secret}`)).toBeNull();
    expect(parseKeyToken(`key_0123456789abcdef_${secret}`)).toBeNull();
    expect(isKeyId('key_0123456789abcdef')).toBe(true);
    expect(isKeyId('key_0123456789abcde')).toBe(false);
  });
});

describe('KeyRateLimiter', () => {
  it('allows a burst of perSecond, then refuses with Retry-After until tokens refill', () => {
    const clock = new ManualClock(1_000_000);
    const limiter = new KeyRateLimiter(clock);
    for (let i = 0; i < 3; i++) expect(limiter.take('k', 3)).toEqual({ ok: true });
    expect(limiter.take('k', 3)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(limiter.take('other', 3)).toEqual({ ok: true }); // buckets are per key
    clock.advance(340); // 1.02 tokens back
    expect(limiter.take('k', 3)).toEqual({ ok: true });
    expect(limiter.take('k', 3).ok).toBe(false);
  });

  it('a slow limit (0.1/s) asks to come back after the token refills, and forget() resets a key', () => {
    const clock = new ManualClock(0);
    const limiter = new KeyRateLimiter(clock);
    expect(limiter.take('k', 0.1).ok).toBe(true);
    expect(limiter.take('k', 0.1)).toEqual({ ok: false, retryAfterSeconds: 10 });
    clock.advance(5_000);
    expect(limiter.take('k', 0.1)).toEqual({ ok: false, retryAfterSeconds: 5 });
    limiter.forget('k');
    expect(limiter.take('k', 0.1).ok).toBe(true);
  });

  it('refused requests take nothing, and idle buckets are forgotten', () => {
    const clock = new ManualClock(0);
    const limiter = new KeyRateLimiter(clock);
    limiter.take('k', 1);
    for (let i = 0; i < 10; i++) expect(limiter.take('k', 1).ok).toBe(false);
    clock.advance(1_000);
    expect(limiter.take('k', 1).ok).toBe(true); // refused calls did not push the refill back
    clock.advance(120_000);
    for (let i = 0; i < 1024; i++) limiter.take(`k${i}`, 1000);
    expect(limiter.size).toBe(1024); // the 1,024 fresh buckets; the idle one for "k" was swept
  });
});
