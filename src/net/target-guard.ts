/**
 * The SSRF guard for every URL the server calls on a user's behalf: queue `target.url` (push delivery),
 * `webhook.url` and a job's `callbackUrl`. Two checks, both here:
 *
 *  - at configuration (`targetUrlProblem`): only http and https, no credentials in the URL, and no literal
 *    private / loopback / link-local / unspecified / multicast / CGNAT / ULA / IPv4-mapped address (nor
 *    `localhost`, which names loopback by definition) → the caller answers 422 with the field's path;
 *  - at connect time (`guardedLookup`, the `lookup` of the HTTP agents in guarded-http.ts): every address a
 *    name resolves to is checked before the socket connects to it, so a name that resolves to 127.0.0.1, or
 *    that rebinds between a check and the connect, is refused — the checked answer is the one dialled.
 *
 * `SPOOL_ALLOW_PRIVATE_TARGETS` opens the guard: `1` (or `true`, `*`) for every address, or a comma list of
 * host names (`hooks.internal`, `*.svc.cluster.local`) and addresses / CIDR ranges (`10.0.0.0/8`, `::1`).
 * Read on each check (the parse is cached per value), so a test or an operator changing it needs no restart.
 */
import { lookup as dnsLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { blockedAddressReason, inCidr, parseCidr, parseIp, type Cidr } from './ip-ranges.js';

export const ALLOW_PRIVATE_TARGETS_ENV = 'SPOOL_ALLOW_PRIVATE_TARGETS';

export interface TargetPolicy {
  /** Every address is allowed (`SPOOL_ALLOW_PRIVATE_TARGETS=1`). */
  readonly allowAll: boolean;
  /** Host names allowed to resolve to private addresses (lower case, no trailing dot); `*.x` entries in `suffixes`. */
  readonly hosts: ReadonlySet<string>;
  readonly suffixes: readonly string[];
  readonly cidrs: readonly Cidr[];
}

/** Parse an allow-list value (see the module comment). Entries that are neither addresses nor ranges are host names. */
export function parseTargetPolicy(text: string | undefined): TargetPolicy {
  const value = (text ?? '').trim();
  if (['1', 'true', '*', 'all'].includes(value.toLowerCase())) return { allowAll: true, hosts: new Set(), suffixes: [], cidrs: [] };
  const hosts = new Set<string>();
  const suffixes: string[] = [];
  const cidrs: Cidr[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const cidr = parseCidr(entry);
    if (cidr) cidrs.push(cidr);
    else if (entry.startsWith('*.')) suffixes.push(normalizeHost(entry.slice(1)));
    else hosts.add(normalizeHost(entry));
  }
  return { allowAll: false, hosts, suffixes, cidrs };
}

let cached: { text: string | undefined; policy: TargetPolicy } | null = null;

/** The policy of `SPOOL_ALLOW_PRIVATE_TARGETS` as it is now. */
export function targetPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): TargetPolicy {
  const text = env[ALLOW_PRIVATE_TARGETS_ENV];
  if (cached === null || cached.text !== text) cached = { text, policy: parseTargetPolicy(text) };
  return cached.policy;
}

/** Lower case, without brackets or a trailing dot: the form hosts are compared in. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function hostAllowListed(host: string, policy: TargetPolicy): boolean {
  return policy.hosts.has(host) || policy.suffixes.some((s) => host.endsWith(s));
}

/**
 * Why connecting to `address` (what `host` resolved to, or the literal itself) is refused, or null when it is
 * allowed: a public address, or a private one the policy lets through (all, the host name, or a range).
 */
export function addressRefusal(host: string, address: string, policy: TargetPolicy): string | null {
  const reason = blockedAddressReason(address);
  if (reason === null || policy.allowAll) return null;
  if (hostAllowListed(normalizeHost(host), policy)) return null;
  const bytes = parseIp(address);
  if (bytes && policy.cidrs.some((c) => inCidr(bytes, c))) return null;
  return reason;
}

/**
 * Configuration-time check of a URL the server will call: a short reason (for a 422 `errors[].message`), or
 * null when the URL may be stored. Names are not resolved here (DNS can change; the connect-time check is the
 * one that counts), but literal addresses and `localhost` are refused at once.
 */
export function targetUrlProblem(text: string, policy: TargetPolicy = targetPolicyFromEnv()): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be an http or https URL (not ${url.protocol.slice(0, -1)})`;
  if (url.username !== '' || url.password !== '') return 'must not carry credentials (sign requests with a secret instead)';
  const host = normalizeHost(url.hostname);
  if (host === '') return 'must name a host';
  // The WHATWG parser has already turned 0x7f.1, 2130706433 and the like into dotted IPv4.
  if (isIP(host) !== 0) {
    const refusal = addressRefusal(host, host, policy);
    return refusal ? `points to a ${refusal} address (${host}); allow it with ${ALLOW_PRIVATE_TARGETS_ENV}` : null;
  }
  if ((host === 'localhost' || host.endsWith('.localhost')) && !policy.allowAll && !hostAllowListed(host, policy)) {
    return `points to loopback (${host}); allow it with ${ALLOW_PRIVATE_TARGETS_ENV}`;
  }
  return null;
}

/** A connection the guard refused; never retried within the attempt. */
export class TargetRefusedError extends Error {
  readonly code = 'ERR_SPOOL_TARGET_REFUSED';
  constructor(host: string, address: string, reason: string) {
    super(`refused to connect to ${host}${host === address ? '' : ` (${address})`}: ${reason} address (SSRF guard; allow it with ${ALLOW_PRIVATE_TARGETS_ENV})`);
    this.name = 'TargetRefusedError';
  }
}

export interface ResolvedAddress {
  readonly address: string;
  readonly family: number;
}

/** Name resolution, injectable for tests (default: the system resolver, `dns.lookup` with `all: true`). */
export type Resolver = (hostname: string, family: 0 | 4 | 6) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname, family) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, family }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );

/**
 * A `lookup` for net / http / https sockets: resolves the name, refuses the connection when any answer is a
 * refused address (a name with one public and one private answer is refused as a whole), and hands the socket
 * exactly the addresses it checked.
 */
export function guardedLookup(policy: () => TargetPolicy = () => targetPolicyFromEnv(), resolver: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : 0;
    resolver(hostname, family).then(
      (addresses) => {
        const p = policy();
        if (addresses.length === 0) {
          callback(Object.assign(new Error(`${hostname} did not resolve to any address`), { code: 'ENOTFOUND' }), '', 0);
          return;
        }
        for (const a of addresses) {
          const refusal = addressRefusal(hostname, a.address, p);
          if (refusal) {
            callback(new TargetRefusedError(hostname, a.address, refusal), '', 0);
            return;
          }
        }
        if (options.all) callback(null, addresses.map((a) => ({ address: a.address, family: a.family })));
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

export interface TargetFieldError {
  /** JSON Pointer into the queue config (`/target/url`, `/webhook/url`). */
  readonly path: string;
  readonly message: string;
}

/** The configuration-time check of a queue's `target.url` and `webhook.url`; empty when both may be stored. */
export function queueTargetErrors(
  config: { readonly target?: { readonly url: string } | undefined; readonly webhook?: { readonly url: string } | undefined },
  policy: TargetPolicy = targetPolicyFromEnv(),
): TargetFieldError[] {
  const errors: TargetFieldError[] = [];
  for (const [field, value] of [['target', config.target], ['webhook', config.webhook]] as const) {
    if (!value) continue;
    const problem = targetUrlProblem(value.url, policy);
    if (problem) errors.push({ path: `/${field}/url`, message: problem });
  }
  return errors;
}
