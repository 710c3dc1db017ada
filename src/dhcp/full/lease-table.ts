/**
 * The lease table of full DHCP mode: pure, in memory, no I/O. It is rebuilt at start by
 * applying the journal's records in order (lease-journal.ts) and changed only through
 * apply(), with the same records the journal gets, so memory and disk cannot disagree.
 *
 * Records:
 *  - bind:  `ip` is leased to `client` until `expires` (ms since epoch). Written, and made
 *           durable, before the DHCPACK leaves (RFC 2131 §4.3.2 "the server MUST commit").
 *  - free:  the client released the address (DHCPRELEASE).
 *  - bad:   the address was declined (DHCPDECLINE: someone else uses it) until `until`.
 * Offers (DHCPOFFER) are not records: RFC 2131 §4.3.1 lets a server hand out an offered
 * address again; they live only in memory, held for a short time.
 *
 * A binding whose time has passed stays in the table as the client's last address (it gets
 * it back if still free, RFC 2131 §4.3.1 "the client's previous address") until another
 * client needs it.
 */
import { intToIp, ipToInt } from '../interfaces.js';

/**
 * ipToInt() without the array it builds (called several times per packet); anything but a
 * plain dotted quad goes to ipToInt(), so the result is always the same as its.
 */
export function ipNum(ip: string): number {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i) - 48;
    if (c === -2 && digits > 0 && dots < 3) {
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 0 && c <= 9 && digits < 3) {
      part = part * 10 + c;
      digits++;
    } else return ipToInt(ip);
  }
  return dots === 3 && digits > 0 && part <= 255 && n <= 0xffffff ? n * 256 + part : ipToInt(ip);
}

export type LeaseRecord =
  | { op: 'bind'; ip: string; client: string; mac: string; expires: number; hostname?: string }
  | { op: 'free'; ip: string; client: string }
  | { op: 'bad'; ip: string; until: number };

export interface Lease {
  ip: string;
  /** Client identity: `id:<hex of option 61>` or `mac:<chaddr>`. */
  client: string;
  mac: string;
  expires: number;
  hostname?: string;
}

export interface PoolRange {
  /** First and last address handed out dynamically. */
  start: string;
  end: string;
  /** Addresses never handed out (the server's own, the network and broadcast addresses). */
  exclude: readonly string[];
}

interface Offer {
  client: string;
  until: number;
}

export class LeaseTable {
  private readonly byIp = new Map<number, Lease>();
  private readonly byClient = new Map<string, Lease>();
  private readonly bad = new Map<number, number>();
  private readonly offers = new Map<number, Offer>();
  private readonly offerOf = new Map<string, number>();
  /** ip → MAC for ltsp.conf reservations; MAC → ip. */
  private reservedIp = new Map<number, string>();
  private reservedMac = new Map<string, number>();
  private readonly start: number;
  private readonly end: number;
  private readonly excluded: Set<number>;
  private cursor: number;

  constructor(range: PoolRange, reservations: ReadonlyMap<string, string> = new Map()) {
    this.start = ipToInt(range.start);
    this.end = ipToInt(range.end);
    this.excluded = new Set(range.exclude.map(ipToInt));
    this.cursor = this.start;
    this.setReservations(reservations);
  }

  /** MAC (lower case) → reserved address. Replaces the previous set (config reload). */
  setReservations(reservations: ReadonlyMap<string, string>): void {
    this.reservedIp = new Map([...reservations].map(([mac, ip]) => [ipToInt(ip), mac.toLowerCase()]));
    this.reservedMac = new Map([...reservations].map(([mac, ip]) => [mac.toLowerCase(), ipToInt(ip)]));
  }

  apply(r: LeaseRecord): void {
    const ip = ipNum(r.ip);
    if (r.op === 'bind') {
      const prevAtIp = this.byIp.get(ip);
      if (prevAtIp && prevAtIp.client !== r.client && this.byClient.get(prevAtIp.client) === prevAtIp) this.byClient.delete(prevAtIp.client);
      const prevOfClient = this.byClient.get(r.client);
      if (prevOfClient && prevOfClient.ip !== r.ip && this.byIp.get(ipNum(prevOfClient.ip)) === prevOfClient) this.byIp.delete(ipNum(prevOfClient.ip));
      const lease: Lease = { ip: r.ip, client: r.client, mac: r.mac, expires: r.expires };
      if (r.hostname) lease.hostname = r.hostname;
      this.byIp.set(ip, lease);
      this.byClient.set(r.client, lease);
      this.bad.delete(ip);
      this.dropOffer(r.client);
    } else if (r.op === 'free') {
      const l = this.byIp.get(ip);
      // Keep the association as an expired lease: the client gets this address back first.
      if (l && l.client === r.client) l.expires = Math.min(l.expires, 0);
    } else {
      const l = this.byIp.get(ip);
      if (l) {
        this.byIp.delete(ip);
        if (this.byClient.get(l.client) === l) this.byClient.delete(l.client);
      }
      this.bad.set(ip, r.until);
    }
  }

  /** The client's binding (active or expired), if any. */
  leaseOf(client: string): Lease | undefined {
    return this.byClient.get(client);
  }

  leaseAt(ip: string): Lease | undefined {
    return this.byIp.get(ipNum(ip));
  }

  reservationOf(mac: string): string | undefined {
    const ip = this.reservedMac.get(mac.toLowerCase());
    return ip === undefined ? undefined : intToIp(ip);
  }

  inPool(ip: string): boolean {
    const n = ipNum(ip);
    return n >= this.start && n <= this.end && !this.excluded.has(n);
  }

  /**
   * Why `client` (with `mac`) may not have `ip` now, or undefined when it may. Does not
   * check that the address is in the pool (reservations may lie outside it).
   */
  unavailable(ip: string, client: string, mac: string, now: number): string | undefined {
    const n = ipNum(ip);
    if (this.excluded.has(n)) return 'reserved for the server/network';
    const owner = this.reservedIp.get(n);
    if (owner !== undefined && owner !== mac.toLowerCase()) return `reserved for ${owner} in ltsp.conf`;
    const badUntil = this.bad.get(n);
    if (badUntil !== undefined && badUntil > now) return 'declined recently (in use by another host)';
    const l = this.byIp.get(n);
    if (l && l.client !== client && l.expires > now) return `leased to ${l.mac} until ${new Date(l.expires).toISOString()}`;
    const o = this.offers.get(n);
    if (o && o.client !== client && o.until > now) return 'offered to another client';
    return undefined;
  }

  /**
   * An address for a DISCOVER (RFC 2131 §4.3.1 order): the client's reservation (when free), its
   * current or previous address, the address it asks for, then a never-used pool address,
   * then the one whose lease ran out longest ago. undefined when the pool is exhausted.
   */
  choose(client: string, mac: string, requested: string | undefined, now: number): string | undefined {
    const reserved = this.reservationOf(mac);
    // A reservation still leased to someone else (made before the IP= line was added) is
    // theirs until it runs out; meanwhile the reserved client gets a pool address.
    if (reserved !== undefined && !this.unavailable(reserved, client, mac, now)) return reserved;
    const prev = this.byClient.get(client);
    if (prev && this.inPool(prev.ip) && !this.unavailable(prev.ip, client, mac, now)) return prev.ip;
    const offered = this.offerOf.get(client);
    if (offered !== undefined && this.inPool(intToIp(offered)) && !this.unavailable(intToIp(offered), client, mac, now)) return intToIp(offered);
    if (requested && this.inPool(requested) && !this.unavailable(requested, client, mac, now)) return requested;
    const size = this.end - this.start + 1;
    let oldest: { n: number; expires: number } | undefined;
    for (let i = 0; i < size; i++) {
      const n = this.start + ((this.cursor - this.start + i) % size);
      if (this.excluded.has(n) || this.reservedIp.has(n)) continue;
      const l = this.byIp.get(n);
      const badUntil = this.bad.get(n);
      if (badUntil !== undefined && badUntil > now) continue;
      const o = this.offers.get(n);
      if (o && o.until > now) continue;
      if (!l) {
        this.cursor = n + 1 > this.end ? this.start : n + 1;
        return intToIp(n);
      }
      if (l.expires <= now && (!oldest || l.expires < oldest.expires)) oldest = { n, expires: l.expires };
    }
    return oldest ? intToIp(oldest.n) : undefined;
  }

  /** Hold an offered address for the client until `until` (not journaled). */
  offer(ip: string, client: string, until: number): void {
    this.dropOffer(client);
    const n = ipNum(ip);
    this.offers.set(n, { client, until });
    this.offerOf.set(client, n);
  }

  /** The client chose another server (RFC 2131 §4.3.2 SELECTING with a foreign server id). */
  dropOffer(client: string): void {
    const n = this.offerOf.get(client);
    if (n === undefined) return;
    this.offerOf.delete(client);
    if (this.offers.get(n)?.client === client) this.offers.delete(n);
  }

  offeredTo(client: string, now: number): string | undefined {
    const n = this.offerOf.get(client);
    if (n === undefined) return undefined;
    const o = this.offers.get(n);
    return o && o.client === client && o.until > now ? intToIp(n) : undefined;
  }

  /** Forget offers whose hold ran out (bounded memory under a DISCOVER flood). */
  pruneOffers(now: number): void {
    // forEach: no [key, value] array per entry (this runs every 256 packets over every offer).
    this.offers.forEach((o, n) => {
      if (o.until <= now) {
        this.offers.delete(n);
        if (this.offerOf.get(o.client) === n) this.offerOf.delete(o.client);
      }
    });
  }

  /** Every binding and every active decline, as records (journal compaction). */
  snapshot(now: number): LeaseRecord[] {
    const out: LeaseRecord[] = [];
    for (const l of this.byIp.values()) {
      const r: LeaseRecord = { op: 'bind', ip: l.ip, client: l.client, mac: l.mac, expires: l.expires };
      if (l.hostname) r.hostname = l.hostname;
      out.push(r);
    }
    for (const [n, until] of this.bad) if (until > now) out.push({ op: 'bad', ip: intToIp(n), until });
    return out;
  }

  /** Active leases (expires > now). */
  active(now: number): Lease[] {
    return [...this.byIp.values()].filter((l) => l.expires > now);
  }

  get size(): number {
    return this.byIp.size;
  }
}
