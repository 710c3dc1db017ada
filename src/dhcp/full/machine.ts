/**
 * Full DHCP mode, the server side of RFC 2131 §4.3 as a pure function:
 *
 *   handleFull(packet, facts, ctx) → { reply?, records, reason }
 *
 * No sockets, no clock, no disk: the time comes in `ctx.now`, the lease table is the
 * in-memory LeaseTable (its offers change here; its bindings change only through the
 * returned records, applied here and then made durable by the caller BEFORE it sends the
 * reply). States the client can be in, and how they show in a DHCPREQUEST (§4.3.2):
 *
 *   SELECTING    option 54 (server id) + option 50 (requested address), ciaddr 0
 *   INIT-REBOOT  no 54, option 50, ciaddr 0
 *   RENEWING     no 54, no 50, ciaddr = its address (unicast to us)
 *   REBINDING    same, broadcast (the answer is the same; Node cannot tell them apart)
 *
 * This server is authoritative for its subnet (it is the only DHCP server on the LTSP LAN):
 * a request for an address it cannot give gets a DHCPNAK, and a client it has no record of
 * keeps its address when that address is free (as dnsmasq --dhcp-authoritative does).
 */
import {
  DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPINFORM, DHCPNAK, DHCPOFFER, DHCPRELEASE, DHCPREQUEST, BOOTREQUEST,
  OPT, encode, getOption, hex, macOf, type DhcpFacts, type DhcpOption, type DhcpPacket, type ReplySpec,
} from '../../../protocols/dhcp/index.js';
import { ipNum, type LeaseRecord, type LeaseTable } from './lease-table.js';

/** The served subnet and what every lease carries. */
export interface FullSubnet {
  /** The server's address on the LAN: option 54, next-server. */
  server: string;
  netmask: string;
  broadcast: string;
  leaseSeconds: number;
  /** Option 3 (omitted when undefined). */
  router?: string;
  /** Option 6 (omitted when empty). */
  dnsServers: readonly string[];
  /** Option 15 (and 119 when asked for). */
  domainName?: string;
  /** How long an OFFER keeps its address for the client (ms). */
  offerHoldMs: number;
  /** How long a declined address stays out of the pool (ms). */
  declineHoldMs: number;
  /** Shortest lease granted when a client asks for less (s). */
  minLeaseSeconds?: number;
}

/** What a PXE/HTTP Boot client additionally gets (from the proxy decision core). */
export interface BootInfo {
  siaddr: string;
  file: string;
  /** 60, 97, 17, 67, 43 ... as the decision core built them. */
  options: DhcpOption[];
  reason: string;
}

export interface FullContext {
  subnet: FullSubnet;
  table: LeaseTable;
  now: number;
  /** HOSTNAME from the client's ltsp.conf section. */
  hostnameOf(mac: string): string | undefined;
  /** Boot file etc. for PXE/HTTP Boot clients; undefined for everyone else. */
  boot(facts: DhcpFacts): BootInfo | undefined;
}

export interface FullOutcome {
  action: 'reply' | 'ignore';
  kind?: 'offer' | 'ack' | 'nak' | 'inform';
  /** RFC 2131 client state (SELECTING, INIT-REBOOT, RENEWING/REBINDING) for REQUESTs. */
  state?: string;
  reason: string;
  reply?: ReplySpec;
  /** Make these durable before sending the reply (already applied to the table). */
  records: LeaseRecord[];
  /** The address offered/acknowledged/released. */
  ip?: string;
  bootFile?: string;
}

/** RFC 2132 §9.14: option 61 identifies the client when present, else chaddr. */
export function clientKey(packet: DhcpPacket): string {
  const id = getOption(packet, OPT.CLIENT_ID);
  return id && id.length > 0 ? `id:${hex(id)}` : `mac:${macOf(packet)}`;
}

const ZERO = '0.0.0.0';

/** `ip` is on the served subnet (inSubnet() without its arrays: this runs on every packet). */
function onSubnet(ip: string, s: Pick<FullSubnet, 'server' | 'netmask'>): boolean {
  const mask = ipNum(s.netmask);
  return ((ipNum(ip) & mask) >>> 0) === ((ipNum(s.server) & mask) >>> 0);
}
const ignore = (reason: string, records: LeaseRecord[] = [], ip?: string): FullOutcome => ({ action: 'ignore', reason, records, ip });

export function handleFull(packet: DhcpPacket, f: DhcpFacts, ctx: FullContext): FullOutcome {
  if (f.op !== BOOTREQUEST) return ignore('not a BOOTREQUEST');
  if (packet.hlen > 16 || packet.hlen === 0) return ignore(`bad hlen ${packet.hlen}`);
  const client = clientKey(packet);
  const { table, subnet, now } = ctx;
  if (f.relayed && !onSubnet(f.giaddr, subnet)) return ignore(`relayed from ${f.giaddr}, not the served subnet`);
  switch (f.messageType) {
    case DHCPDISCOVER: {
      const ip = table.choose(client, f.mac, f.requestedIp, now);
      if (!ip) return ignore('address pool exhausted');
      table.offer(ip, client, now + subnet.offerHoldMs);
      return answer('offer', packet, f, ctx, ip, []);
    }
    case DHCPREQUEST:
      return request(packet, f, ctx, client);
    case DHCPDECLINE: {
      // §4.3.3: the client found the address in use (ARP); keep it out of the pool for a while.
      if (f.serverId !== undefined && f.serverId !== subnet.server) return ignore(`DECLINE for server ${f.serverId}`);
      const ip = f.requestedIp;
      if (!ip) return ignore('DECLINE without option 50');
      const l = table.leaseAt(ip);
      if (l && l.client !== client) return ignore(`DECLINE of ${ip}, which is leased to another client`);
      if (!l && table.offeredTo(client, now) !== ip) return ignore(`DECLINE of ${ip}, which this client does not have`);
      const rec: LeaseRecord = { op: 'bad', ip, until: now + subnet.declineHoldMs };
      table.apply(rec);
      table.dropOffer(client);
      return ignore(`declined ${ip}: kept out of the pool for ${Math.round(subnet.declineHoldMs / 1000)} s`, [rec], ip);
    }
    case DHCPRELEASE: {
      // §4.3.4: no reply; the client's address becomes free (it is remembered as its last one).
      const ip = f.ciaddr;
      const l = ip === ZERO ? undefined : table.leaseAt(ip);
      if (!l || l.client !== client) return ignore(`RELEASE of ${ip}, which this client does not have`);
      const rec: LeaseRecord = { op: 'free', ip, client };
      table.apply(rec);
      return ignore(`released ${ip}`, [rec], ip);
    }
    case DHCPINFORM: {
      // §4.3.5: configuration only, no lease, no 51/58/59, sent to ciaddr.
      if (f.ciaddr === ZERO) return ignore('INFORM without ciaddr');
      if (!onSubnet(f.ciaddr, subnet)) return ignore(`INFORM from ${f.ciaddr}, not on this network`);
      return answer('inform', packet, f, ctx, f.ciaddr, []);
    }
    case undefined:
      return ignore('BOOTP (no option 53) is not served');
    default:
      return ignore(`${f.messageTypeName} is not answered by a server`);
  }
}

function request(packet: DhcpPacket, f: DhcpFacts, ctx: FullContext, client: string): FullOutcome {
  const { table, subnet, now } = ctx;
  let state: string;
  let ip: string | undefined;
  if (f.serverId !== undefined) {
    state = 'SELECTING';
    if (f.serverId !== subnet.server) {
      table.dropOffer(client);
      return { ...ignore(`client chose server ${f.serverId}`), state };
    }
    ip = f.requestedIp ?? (f.ciaddr !== ZERO ? f.ciaddr : undefined);
  } else if (f.ciaddr === ZERO) {
    state = 'INIT-REBOOT';
    ip = f.requestedIp;
  } else {
    state = 'RENEWING/REBINDING';
    ip = f.ciaddr;
  }
  if (!ip) return { ...nak(packet, ctx, 'REQUEST names no address'), state };
  if (!onSubnet(ip, subnet)) return { ...nak(packet, ctx, `${ip} is not on this network`), state };
  const reserved = table.reservationOf(f.mac);
  if (reserved !== undefined && ip !== reserved && !table.unavailable(reserved, client, f.mac, now)) {
    return { ...nak(packet, ctx, `client has the reserved address ${reserved}`), state };
  }
  if (ip !== reserved && !table.inPool(ip)) return { ...nak(packet, ctx, `${ip} is outside the address pool`), state };
  const why = table.unavailable(ip, client, f.mac, now);
  if (why) return { ...nak(packet, ctx, `${ip}: ${why}`), state };
  const lease = leaseSeconds(f, packet, subnet);
  const rec: LeaseRecord = { op: 'bind', ip, client, mac: f.mac, expires: now + lease * 1000 };
  const host = ctx.hostnameOf(f.mac) ?? f.hostname;
  if (host) rec.hostname = host;
  table.apply(rec);
  return { ...answer('ack', packet, f, ctx, ip, [rec], lease), state };
}

/** The configured lease, or less when the client asks for less (not below the minimum). */
function leaseSeconds(f: DhcpFacts, packet: DhcpPacket, s: FullSubnet): number {
  const asked = getOption(packet, OPT.LEASE_TIME);
  if (!asked || asked.length !== 4) return s.leaseSeconds;
  const v = ((asked[0]! << 24) | (asked[1]! << 16) | (asked[2]! << 8) | asked[3]!) >>> 0;
  return Math.min(s.leaseSeconds, Math.max(v, s.minLeaseSeconds ?? 120));
}

function nak(packet: DhcpPacket, ctx: FullContext, reason: string): FullOutcome {
  const options: DhcpOption[] = [{ code: OPT.SERVER_ID, data: encode.ip(ctx.subnet.server) }, { code: 56, data: encode.string(reason.slice(0, 200)) }];
  echoRelayAgent(packet, options);
  return { action: 'reply', kind: 'nak', reason, records: [], reply: { messageType: DHCPNAK, options } };
}

/** RFC 3046 §2.2: a reply to a relayed request carries the relay agent's option 82 back, last. */
function echoRelayAgent(packet: DhcpPacket, options: DhcpOption[]): void {
  const agent = getOption(packet, OPT.RELAY_AGENT);
  if (agent && packet.giaddr !== ZERO) options.push({ code: OPT.RELAY_AGENT, data: agent });
}

/** The options every reply of a subnet carries, encoded once per subnet (read-only: shared by replies). */
interface SubnetOptions {
  serverId: DhcpOption;
  /** Options 51, 58, 59 for the subnet's own lease time. */
  lease: readonly DhcpOption[];
  /** 1, 28, 3, 6 in that order. */
  network: readonly DhcpOption[];
  domain?: DhcpOption;
  search?: DhcpOption;
}
const subnetOptions = new WeakMap<FullSubnet, SubnetOptions>();

/** Frozen: shared by every reply, so setOption() on a reply must not change them. */
const opt = (code: number, data: Uint8Array): DhcpOption => Object.freeze({ code, data });

function leaseOptions(lease: number): DhcpOption[] {
  return [
    opt(OPT.LEASE_TIME, encode.u32(lease)),
    opt(58, encode.u32(Math.floor(lease / 2))), // T1, RFC 2131 §4.4.5
    opt(59, encode.u32(Math.floor((lease * 7) / 8))), // T2
  ];
}

function optionsOf(s: FullSubnet): SubnetOptions {
  let o = subnetOptions.get(s);
  if (!o) {
    const network: DhcpOption[] = [opt(OPT.SUBNET_MASK, encode.ip(s.netmask)), opt(OPT.BROADCAST, encode.ip(s.broadcast))];
    if (s.router) network.push(opt(OPT.ROUTER, encode.ip(s.router)));
    if (s.dnsServers.length) network.push(opt(OPT.DNS_SERVERS, encode.ips([...s.dnsServers])));
    o = {
      serverId: opt(OPT.SERVER_ID, encode.ip(s.server)),
      lease: leaseOptions(s.leaseSeconds),
      network,
      domain: s.domainName ? opt(OPT.DOMAIN_NAME, encode.string(s.domainName)) : undefined,
      search: s.domainName ? opt(119, dnsSearch(s.domainName)) : undefined,
    };
    subnetOptions.set(s, o);
  }
  return o;
}

/** OFFER/ACK/INFORM-ACK with the lease options (RFC 2132) and, for PXE clients, the boot ones. */
function answer(kind: 'offer' | 'ack' | 'inform', packet: DhcpPacket, f: DhcpFacts, ctx: FullContext, ip: string, records: LeaseRecord[], lease = ctx.subnet.leaseSeconds): FullOutcome {
  const s = ctx.subnet;
  const so = optionsOf(s);
  const opts: DhcpOption[] = [so.serverId];
  if (kind !== 'inform') opts.push(...(lease === s.leaseSeconds ? so.lease : leaseOptions(lease)));
  opts.push(...so.network);
  const host = ctx.hostnameOf(f.mac);
  if (host) opts.push({ code: OPT.HOSTNAME, data: encode.string(host) });
  if (so.domain) opts.push(so.domain);
  const asked = f.requestedParams ?? [];
  if (so.search && asked.includes(119)) opts.push(so.search);
  const boot = ctx.boot(f);
  if (boot) {
    for (const o of boot.options) if (!opts.some((x) => x.code === o.code)) opts.push(o);
    if (asked.includes(OPT.TFTP_SERVER) && !boot.file.includes('://')) opts.push({ code: OPT.TFTP_SERVER, data: encode.string(boot.siaddr) });
    if (asked.includes(OPT.BOOTFILE) && !opts.some((x) => x.code === OPT.BOOTFILE)) opts.push({ code: OPT.BOOTFILE, data: encode.string(boot.file) });
  }
  echoRelayAgent(packet, opts);
  const messageType = kind === 'offer' ? DHCPOFFER : DHCPACK;
  const reply: ReplySpec = {
    messageType,
    ciaddr: kind === 'offer' ? ZERO : packet.ciaddr,
    yiaddr: kind === 'inform' ? ZERO : ip,
    siaddr: boot ? boot.siaddr : ZERO,
    file: boot?.file ?? '',
    options: opts,
  };
  const what = kind === 'inform' ? 'configuration' : `${ip} for ${lease} s`;
  return { action: 'reply', kind, reason: boot ? `${what}; ${boot.reason}` : what, reply, records, ip: kind === 'inform' ? undefined : ip, bootFile: boot?.file };
}

/** RFC 3397 domain search list, one name, uncompressed. */
function dnsSearch(domain: string): Uint8Array {
  const parts = domain.split('.').filter(Boolean).map((l) => encode.string(l.slice(0, 63)));
  const out: number[] = [];
  for (const p of parts) out.push(p.length, ...p);
  out.push(0);
  return Uint8Array.from(out);
}

export interface FullDestination {
  address: string;
  port: number;
  broadcast: boolean;
}

/**
 * Where a full-mode reply goes (RFC 2131 §4.1): relayed → the relay (giaddr:67); a NAK →
 * broadcast; a client that has its address (ciaddr: RENEWING, REBINDING, INFORM) →
 * unicast to it; everyone else → broadcast. Unicast only to addresses on the LAN's subnet. (§4.1 prefers unicast to yiaddr + chaddr for
 * clients without the broadcast flag, which needs an ARP entry Node cannot make; the
 * broadcast it then allows is what every client accepts.)
 */
export function fullDestination(packet: Pick<DhcpPacket, 'giaddr' | 'ciaddr'>, kind: FullOutcome['kind'], ports: { client: number; relay: number }, subnet: Pick<FullSubnet, 'server' | 'netmask'>, broadcastAddress = '255.255.255.255'): FullDestination {
  const onLan = (ip: string) => onSubnet(ip, subnet);
  // Never unicast off the LAN's subnet: such a datagram would be routed out of another card.
  if (packet.giaddr !== ZERO && onLan(packet.giaddr)) return { address: packet.giaddr, port: ports.relay, broadcast: false };
  if (kind !== 'nak' && packet.ciaddr !== ZERO && onLan(packet.ciaddr)) return { address: packet.ciaddr, port: ports.client, broadcast: false };
  return { address: broadcastAddress, port: ports.client, broadcast: true };
}
