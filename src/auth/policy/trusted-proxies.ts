/**
 * Whose address a request comes from when reverse proxies may stand in front of us. Forwarded
 * headers (X-Forwarded-For, X-Forwarded-Proto) are believed only from a peer listed in the
 * `trustedProxies` setting: anyone else, loopback included (any local process, or an SSRF),
 * could write them and steer the per-IP limits and fail2ban at innocent addresses.
 * Pure: no I/O; the caller passes the socket's address and the request headers.
 */
import { BlockList, isIP } from "node:net";

export class TrustedProxiesError extends Error {
  override readonly name = "TrustedProxiesError";
}

/** The proxies whose forwarded headers are believed: addresses and CIDR ranges, IPv4 or IPv6. */
export class TrustedProxies {
  private readonly list = new BlockList();

  private constructor(readonly entries: readonly string[]) {
    entries.forEach((entry, i) => {
      const [address, bits, ...rest] = entry.trim().split("/");
      const family = isIP(address ?? "");
      if (family === 0 || rest.length > 0) throw new TrustedProxiesError(`entry ${i} is not an IP address or CIDR range`);
      const type = family === 4 ? "ipv4" : "ipv6";
      if (bits === undefined) return this.list.addAddress(address!, type);
      const max = family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new TrustedProxiesError(`entry ${i} has a prefix length outside 0-${max}`);
      this.list.addSubnet(address!, Number(bits), type);
    });
  }

  /** Throws TrustedProxiesError naming the entry's index (never its text) when one is not an address or range. */
  static parse(entries: readonly string[]): TrustedProxies {
    return new TrustedProxies([...entries]);
  }

  static readonly none = new TrustedProxies([]);

  /** The peer is one of the configured proxies (an IPv4-mapped IPv6 address matches its IPv4 entry). */
  has(address: string | undefined): boolean {
    if (!address) return false;
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? "ipv4" : "ipv6");
  }
}

/** Request headers as node:http gives them (lower-case names). */
export type HeaderBag = Readonly<Record<string, string | string[] | undefined>>;

export interface ClientOrigin {
  /** The address to limit and log: the client's, as far as trusted proxies vouch for it. */
  address: string;
  /** The request came through a trusted proxy (its headers were used). */
  viaTrustedProxy: boolean;
  /** The scheme the trusted proxy says the client used (`https`, `wss`, ...), lower-case; null when not given or not trusted. */
  forwardedProto: string | null;
  /** Forwarded headers came from a peer that is not trusted, and were ignored. */
  ignoredForwardedHeaders: boolean;
}

function header(headers: HeaderBag, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * Where a request comes from. From a trusted proxy, X-Forwarded-For is read right to left
 * (each proxy appends the address it saw): hops that are themselves trusted proxies are
 * skipped, and the first one that is not is the client. An entry that is not an IP address
 * ends the walk at the last trusted hop, so garbage never becomes an address. The scheme is
 * the last X-Forwarded-Proto value (the one our proxy wrote, if it appends).
 */
export function clientOrigin(remoteAddress: string | undefined, headers: HeaderBag, trusted: TrustedProxies): ClientOrigin {
  const peer = remoteAddress ?? "unknown";
  const forwardedFor = header(headers, "x-forwarded-for");
  const forwardedProto = header(headers, "x-forwarded-proto");
  const hasForwarded = forwardedFor !== null || forwardedProto !== null;
  if (!trusted.has(peer)) {
    return { address: peer, viaTrustedProxy: false, forwardedProto: null, ignoredForwardedHeaders: hasForwarded };
  }
  let address = peer;
  const hops = (forwardedFor ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) break;
    address = hop;
    if (!trusted.has(hop)) break;
  }
  const proto = forwardedProto?.split(",").map((p) => p.trim().toLowerCase()).filter((p) => p !== "").at(-1) ?? null;
  return { address, viaTrustedProxy: true, forwardedProto: proto, ignoredForwardedHeaders: false };
}

/** Just the address of clientOrigin: what per-IP limits and log lines should use. */
export function clientAddress(remoteAddress: string | undefined, headers: HeaderBag, trusted: TrustedProxies): string {
  return clientOrigin(remoteAddress, headers, trusted).address;
}
