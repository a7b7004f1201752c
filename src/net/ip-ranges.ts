/**
 * IP address classification for the SSRF guard (target-guard.ts): parse IPv4 / IPv6 text into bytes, match
 * CIDR ranges, and name the reason an address must not be reached from the server (loopback, private,
 * link-local, CGNAT, ULA, multicast, unspecified, reserved, IPv4-mapped IPv6, …). Pure: no DNS, no sockets.
 *
 * The table follows the IANA special-purpose registries (RFC 6890 and successors). IPv6 forms that embed an
 * IPv4 address (IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96) are refused outright — a server has no
 * business dialling them, and they are the classic way round a v4-only check; NAT64 (64:ff9b::/96) and 6to4
 * (2002::/16) are judged by the IPv4 address they carry.
 */
import { isIP } from 'node:net';

export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** `a.b.c.d` or IPv6 text (optionally in brackets, optionally with a `%zone`) → 4 or 16 bytes; null if neither. */
export function parseIp(text: string): Uint8Array | null {
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  const kind = isIP(t);
  if (kind === 4) return Uint8Array.from(t.split('.').map(Number));
  if (kind === 6) return parseIpv6(t);
  return null;
}

function parseIpv6(text: string): Uint8Array | null {
  let t = text;
  // A dotted IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const lastColon = t.lastIndexOf(':');
  if (t.slice(lastColon + 1).includes('.')) {
    const v4 = t.slice(lastColon + 1).split('.').map(Number);
    t = `${t.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, rest] = t.split('::') as [string, string | undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  let words: number[];
  if (rest === undefined) words = groups(head);
  else {
    const a = groups(head);
    const b = groups(rest);
    if (a.length + b.length > 7) return null;
    words = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  }
  if (words.length !== 8 || words.some((w) => !Number.isInteger(w))) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Null when it is neither. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const bytes = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!bytes) return null;
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, prefix: max };
  const p = text.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(p) || Number(p) > max) return null;
  return { bytes, prefix: Number(p) };
}

/** True when `address` (4 or 16 bytes) lies in `cidr` (of the same family). */
export function inCidr(address: Uint8Array, cidr: Cidr): boolean {
  if (address.length !== cidr.bytes.length) return false;
  let bits = cidr.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i]! & mask) !== (cidr.bytes[i]! & mask)) return false;
  }
  return true;
}

const range = (text: string, reason: string): { cidr: Cidr; reason: string } => ({ cidr: parseCidr(text)!, reason });

const V4_BLOCKED = [
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared address space (CGNAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local (cloud metadata)'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', '6to4 relay anycast'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved (and broadcast)'),
];

const V6_BLOCKED = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::ffff:0:0/96', 'IPv4-mapped IPv6'),
  range('::/96', 'IPv4-compatible IPv6'),
  range('64:ff9b:1::/48', 'local-use NAT64'),
  range('100::/64', 'discard-only'),
  range('2001::/32', 'Teredo'),
  range('2001:2::/48', 'benchmarking'),
  range('2001:db8::/32', 'documentation'),
  range('2001:10::/28', 'ORCHID'),
  range('fc00::/7', 'unique local (ULA)'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
];

const NAT64 = parseCidr('64:ff9b::/96')!;
const SIX_TO_FOUR = parseCidr('2002::/16')!;

/**
 * Why the server must not connect to this address (a short phrase such as `loopback`), or null when it is an
 * ordinary public address. Text that is not an IP address is answered `not an IP address`.
 */
export function blockedAddressReason(address: string | Uint8Array): string | null {
  const bytes = typeof address === 'string' ? parseIp(address) : address;
  if (!bytes) return 'not an IP address';
  if (bytes.length === 4) return V4_BLOCKED.find((r) => inCidr(bytes, r.cidr))?.reason ?? null;
  const hit = V6_BLOCKED.find((r) => inCidr(bytes, r.cidr));
  if (hit) return hit.reason;
  const embedded = inCidr(bytes, NAT64) ? bytes.slice(12, 16) : inCidr(bytes, SIX_TO_FOUR) ? bytes.slice(2, 6) : null;
  if (embedded) {
    const inner = blockedAddressReason(embedded);
    return inner ? `${inner} (embedded in IPv6)` : null;
  }
  return null;
}
