/**
 * The SSRF guard's parts without a server: address classification, the allow-list, the configuration-time
 * URL check, the connect-time lookup (with an injected resolver), the guarded HTTP client against a real
 * loopback server. (Standard Webhooks signatures: test/client/webhook-signature.test.ts.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GuardedHttpClient, OutboundRequestError } from '../../src/net/guarded-http.js';
import { blockedAddressReason, parseIp } from '../../src/net/ip-ranges.js';
import { guardedLookup, parseTargetPolicy, queueTargetErrors, targetUrlProblem, TargetRefusedError, type Resolver } from '../../src/net/target-guard.js';

const NONE = parseTargetPolicy(undefined);

describe('blockedAddressReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['100.64.0.1', 'CGNAT'],
    ['fd00::1', 'unique local'],
    ['fc12:3456::1', 'unique local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::ffff:127.0.0.1', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['[::ffff:7f00:1]', 'IPv4-mapped'],
    ['64:ff9b::a00:1', 'private (embedded in IPv6)'],
    ['2002:7f00:1::1', 'loopback (embedded in IPv6)'],
  ])('%s is refused (%s)', (address, reason) => {
    expect(blockedAddressReason(address)).toContain(reason);
  });

  it.each(['8.8.8.8', '93.184.216.34', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '64:ff9b::808:808'])('%s is public', (address) => {
    expect(blockedAddressReason(address)).toBeNull();
  });

  it('parses IPv6 forms into the same bytes', () => {
    expect(parseIp('::ffff:127.0.0.1')).toEqual(parseIp('0:0:0:0:0:ffff:7f00:1'));
    expect(parseIp('1::')).toEqual(parseIp('1:0:0:0:0:0:0:0'));
    expect(parseIp('1:2:3:4:5:6:7:8:9')).toBeNull();
    expect(parseIp('example.com')).toBeNull();
  });
});

describe('targetUrlProblem (configuration time)', () => {
  it.each([
    ['http://127.0.0.1:8080/hook', 'loopback'],
    ['http://[::1]/', 'loopback'],
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['https://10.0.0.5/x', 'private'],
    ['http://[::ffff:127.0.0.1]/', 'IPv4-mapped'],
    ['http://0.0.0.0:7420/', 'unspecified'],
    ['http://2130706433/', 'loopback'], // decimal 127.0.0.1, normalised by the URL parser
    ['http://0x7f.1/', 'loopback'],
    ['http://localhost:3000/', 'loopback (localhost)'],
    ['http://api.localhost./', 'loopback'],
    ['ftp://example.com/x', 'http or https'],
    ['file:///etc/passwd', 'http or https'],
    ['not a url', 'absolute http or https URL'],
    ['https://user:pw@example.com/', 'credentials'],
  ])('%s is refused (%s)', (url, reason) => {
    expect(targetUrlProblem(url, NONE)).toContain(reason);
  });

  it.each(['https://hooks.example.com/x', 'http://93.184.216.34:8080/', 'https://[2606:4700:4700::1111]/'])('%s may be stored', (url) => {
    expect(targetUrlProblem(url, NONE)).toBeNull();
  });

  it('SPOOL_ALLOW_PRIVATE_TARGETS: 1 allows every address; a list allows its hosts and ranges only', () => {
    expect(targetUrlProblem('http://127.0.0.1/', parseTargetPolicy('1'))).toBeNull();
    const list = parseTargetPolicy(' 127.0.0.0/8, fd00::/8 ,hooks.internal, *.svc.local ');
    expect(targetUrlProblem('http://127.0.0.9/', list)).toBeNull();
    expect(targetUrlProblem('http://[fd00::5]/', list)).toBeNull();
    expect(targetUrlProblem('http://[::1]/', list)).toContain('loopback');
    expect(targetUrlProblem('http://10.0.0.1/', list)).toContain('private');
    expect(targetUrlProblem('http://localhost/', list)).toContain('loopback');
    expect(targetUrlProblem('http://localhost/', parseTargetPolicy('localhost'))).toBeNull();
    expect(targetUrlProblem('ftp://127.0.0.1/', parseTargetPolicy('1'))).toContain('http or https');
  });

  it('queueTargetErrors names the field: /target/url and /webhook/url', () => {
    expect(queueTargetErrors({ target: { url: 'http://10.1.1.1/' }, webhook: { url: 'http://[::1]/' } }, NONE)).toEqual([
      { path: '/target/url', message: expect.stringContaining('private') },
      { path: '/webhook/url', message: expect.stringContaining('loopback') },
    ]);
    expect(queueTargetErrors({ target: { url: 'https://example.com/' } }, NONE)).toEqual([]);
  });
});

describe('guardedLookup (connect time)', () => {
  const resolver =
    (table: Record<string, string[]>): Resolver =>
    async (hostname) =>
      (table[hostname] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  const lookup = (policy: string | undefined, table: Record<string, string[]>, host: string, all: boolean) =>
    new Promise<unknown>((resolve, reject) =>
      guardedLookup(() => parseTargetPolicy(policy), resolver(table))(host, { all }, (error, address, family) =>
        error ? reject(error) : resolve(all ? address : { address, family }),
      ),
    );

  it('hands public answers to the socket, single or all', async () => {
    const table = { 'example.com': ['93.184.216.34', '2606:2800:220:1::1'] };
    expect(await lookup(undefined, table, 'example.com', false)).toEqual({ address: '93.184.216.34', family: 4 });
    expect(await lookup(undefined, table, 'example.com', true)).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ]);
  });

  it('refuses a name when any answer is private, unless the name or the range is allow-listed', async () => {
    const table = { 'evil.example': ['93.184.216.34', '127.0.0.1'], 'meta.example': ['169.254.169.254'], 'hooks.internal': ['10.0.0.7'] };
    await expect(lookup(undefined, table, 'evil.example', true)).rejects.toBeInstanceOf(TargetRefusedError);
    await expect(lookup(undefined, table, 'meta.example', false)).rejects.toThrow(/refused to connect to meta\.example \(169\.254\.169\.254\): link-local/);
    await expect(lookup('hooks.internal', table, 'hooks.internal', false)).resolves.toEqual({ address: '10.0.0.7', family: 4 });
    await expect(lookup('10.0.0.0/8', table, 'hooks.internal', false)).resolves.toEqual({ address: '10.0.0.7', family: 4 });
    await expect(lookup('10.0.0.0/8', table, 'evil.example', false)).rejects.toThrow(/loopback/);
    await expect(lookup(undefined, table, 'nowhere.example', false)).rejects.toThrow(/did not resolve/);
  });
});

describe('GuardedHttpClient', () => {
  let server: Server | null = null;
  const clients: GuardedHttpClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = null;
  });
  async function listen(handler: Parameters<typeof createServer>[1]): Promise<number> {
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }
  const client = (policy?: string, table?: Record<string, string[]>) => {
    const c = new GuardedHttpClient({
      policy: () => parseTargetPolicy(policy),
      ...(table ? { resolver: async (h: string) => (table[h] ?? []).map((address) => ({ address, family: 4 })) } : {}),
    });
    clients.push(c);
    return c;
  };
  const post = { headers: { 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs: 5000, maxResponseBytes: 1024 };

  it('refuses a literal loopback address before connecting, and a name resolving to one at connect time', async () => {
    let hits = 0;
    const port = await listen((_req, res) => {
      hits++;
      res.end('ok');
    });
    await expect(client().post(`http://127.0.0.1:${port}/`, post)).rejects.toMatchObject({ failure: 'refused' });
    await expect(client(undefined, { 'rebound.example': ['127.0.0.1'] }).post(`http://rebound.example:${port}/`, post)).rejects.toMatchObject({
      failure: 'refused',
      message: expect.stringContaining('loopback'),
    });
    // The real resolver: localhost is loopback.
    await expect(client().post(`http://localhost:${port}/`, post)).rejects.toBeInstanceOf(OutboundRequestError);
    expect(hits).toBe(0);
    const allowed = await client('127.0.0.1', { 'rebound.example': ['127.0.0.1'] }).post(`http://rebound.example:${port}/`, post);
    expect(allowed).toMatchObject({ status: 200, truncated: false });
    expect(allowed.body.toString()).toBe('ok');
    expect(hits).toBe(1);
  });

  it('does not follow redirects, caps the response body, and times out', async () => {
    let followed = false;
    const port = await listen((req, res) => {
      if (req.url === '/moved') res.writeHead(302, { location: '/elsewhere' }).end();
      else if (req.url === '/elsewhere') {
        followed = true;
        res.end();
      } else if (req.url === '/big') res.end('x'.repeat(100_000));
      // '/slow' never answers
    });
    const c = client('127.0.0.1');
    expect((await c.post(`http://127.0.0.1:${port}/moved`, post)).status).toBe(302);
    expect(followed).toBe(false);
    const big = await c.post(`http://127.0.0.1:${port}/big`, post);
    expect(big).toMatchObject({ status: 200, truncated: true });
    expect(big.body.length).toBe(1024);
    await expect(c.post(`http://127.0.0.1:${port}/slow`, { ...post, timeoutMs: 200 })).rejects.toMatchObject({ failure: 'timeout' });
  });
});
