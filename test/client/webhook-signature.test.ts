/**
 * Standard Webhooks signatures (src/client/webhook-signature.ts) against the specification and the reference
 * `standardwebhooks` package: what Spool signs the reference verifies, what the reference signs
 * `verifyWebhook` accepts; raw bytes, rotation (two signatures, two secrets), header shapes, replay window.
 */
import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook, webhookHeaders } from '../../src/client/webhook-signature.js';

const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
const older = `whsec_${Buffer.from('the-previous-secret-0123456789ab').toString('base64')}`;

describe('signWebhook / webhookHeaders', () => {
  it('matches the specification: base64 HMAC-SHA256 of id.timestamp.body under the decoded secret', () => {
    const expected = createHmac('sha256', Buffer.from('0123456789abcdef0123456789abcdef')).update('msg_1.1700000000.{"x":1}').digest('base64');
    expect(signWebhook(secret, 'msg_1', 1700000000, '{"x":1}')).toBe(`v1,${expected}`);
  });

  it('the reference package verifies what Spool signs, with one secret and with each secret of a rotation', () => {
    const body = '{"type":"job.completed","data":{"name":"Ådå ✓"}}';
    const one = webhookHeaders(secret, 'msg_2', body);
    expect(new Webhook(secret).verify(body, one)).toEqual(JSON.parse(body));
    const both = webhookHeaders([secret, older], 'msg_2', body);
    expect(both['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(new Webhook(secret).verify(body, both)).toEqual(JSON.parse(body));
    expect(new Webhook(older).verify(body, both)).toEqual(JSON.parse(body));
    expect(() => new Webhook(`whsec_${Buffer.from('a-third-secret-nobody-uses-000000').toString('base64')}`).verify(body, both)).toThrow();
  });
});

describe('verifyWebhook', () => {
  it('accepts the reference package signature over the raw bytes, and refuses another body, secret or an old timestamp', () => {
    const now = Date.now();
    const body = Buffer.from('{"a":"é"}');
    const sig = new Webhook(secret).sign('msg_3', new Date(now), body.toString('utf8'));
    const headers = { 'webhook-id': 'msg_3', 'webhook-timestamp': String(Math.floor(now / 1000)), 'webhook-signature': sig };
    expect(verifyWebhook(body, headers, secret, { nowMs: now })).toBe(true);
    expect(verifyWebhook(body.toString('utf8'), headers, secret, { nowMs: now })).toBe(true);
    expect(verifyWebhook('{"a":"\\u00e9"}', headers, secret, { nowMs: now }), 'the same JSON, other bytes').toBe(false);
    expect(verifyWebhook(body, headers, older, { nowMs: now })).toBe(false);
    expect(verifyWebhook(body, headers, secret, { nowMs: now + 301_000 })).toBe(false);
    expect(verifyWebhook(body, headers, secret, { nowMs: now + 301_000, toleranceSeconds: 600 })).toBe(true);
    expect(verifyWebhook(body, { ...headers, 'webhook-id': 'msg_4' }, secret, { nowMs: now })).toBe(false);
    expect(verifyWebhook(body, { 'webhook-id': 'msg_3', 'webhook-signature': sig }, secret, { nowMs: now })).toBe(false);
  });

  it('takes several secrets (rolling over), a Fetch Headers object and differently cased header names', () => {
    const body = '{"ok":true}';
    const headers = webhookHeaders(older, 'msg_5', body);
    expect(verifyWebhook(body, headers, [secret, older])).toBe(true);
    expect(verifyWebhook(body, headers, [secret])).toBe(false);
    expect(verifyWebhook(body, new Headers(headers), older)).toBe(true);
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook(body, upper, older)).toBe(true);
  });
});
