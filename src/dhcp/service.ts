/**
 * The proxyDHCP service: UDP sockets on the DHCP port (67) and the PXE port (4011), each
 * packet decoded, classified, decided (decide.ts) and answered. Never throws on a packet:
 * a bad one is logged and dropped.
 *
 * Sockets (see interfaces.ts for why):
 *  - 0.0.0.0:67 and 0.0.0.0:4011 receive broadcasts (and unicast to addresses not served);
 *  - <iface address>:67 and :4011 per served interface receive unicast to that address
 *    (so we know the interface) and send every reply for that interface, so a reply's
 *    source address/port are right (iPXE accepts a PXE-port answer only *from* 4011) and a
 *    broadcast leaves through that interface.
 * All of them use SO_REUSEADDR (needed to bind an address next to the wildcard); before
 * binding, a probe bind without it makes sure no other program holds the port.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { DhcpDecodeError, buildReply, classify, decodeDhcp, encodeDhcp, type DhcpFacts } from '../../protocols/dhcp/index.js';
import type { LoadedConfig } from '../config/index.js';
import type { BootEventSink } from '../events.js';
import type { Logger } from '../log.js';
import { seriesOf, type Counter, type MetricsRegistry, type Series } from '../metrics.js';
import { decide, type Decision } from './decide.js';
import { replyDestination } from './destination.js';
import { interfacesForPacket, servedInterfaces, type ServedInterface } from './interfaces.js';
import { policyFromConfig, type DhcpPolicy } from './policy.js';

export interface DhcpServiceOptions {
  loaded: LoadedConfig;
  log: Logger;
  events?: BootEventSink;
  metrics?: MetricsRegistry;
  /** Decide and log, send nothing. */
  dryRun?: boolean;
  /** Port DHCP clients listen on (68; tests use a random one). */
  clientPort?: number;
  /** Port relay agents listen on (67). */
  relayPort?: number;
}

export interface DhcpService {
  close(): Promise<void>;
  /** New config: policy, server address, allow-list. Interfaces and ports need a restart. */
  reload(loaded: LoadedConfig): void;
  ports: { dhcp: number; pxe: number };
  interfaces: ServedInterface[];
}

type PortKind = 'dhcp' | 'pxe';
const RCVBUF = 4 * 1024 * 1024;

/**
 * inc() of a counter's series by an id of its label values, each series' key built once
 * (seriesOf): the registry sorts and escapes labels on every plain inc(), per packet here.
 * The label values are few (ports, message types, reply kinds), so are the series.
 */
function counting(metric: Counter | undefined): (id: string, labels: () => Record<string, string>) => void {
  const series = new Map<string, Series>();
  return (id, labels) => {
    if (!metric) return;
    let s = series.get(id);
    if (!s) series.set(id, (s = seriesOf(metric, labels())));
    s.inc();
  };
}

/** A UDP socket bound to address:port (also used by full mode, src/dhcp/full/service.ts). */
export function bindSocket(address: string, port: number, reuseAddr: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr, recvBufferSize: RCVBUF });
    s.once('error', (e) => {
      s.close();
      reject(e);
    });
    s.bind({ address, port, exclusive: true }, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

/** Fails with a clear message when another program (dnsmasq, ...) already has the port. */
export async function assertPortFree(port: number): Promise<void> {
  if (port === 0) return;
  try {
    const probe = await bindSocket('0.0.0.0', port, false);
    await new Promise<void>((r) => probe.close(() => r()));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new Error(`UDP port ${port} is already in use (a running dnsmasq?)`);
    if (err.code === 'EACCES') throw new Error(`UDP port ${port}: permission denied (needs CAP_NET_BIND_SERVICE or root)`);
    throw err;
  }
}

export async function startDhcpService(opts: DhcpServiceOptions): Promise<DhcpService> {
  const { log } = opts;
  const cfg = opts.loaded.config;
  const { interfaces, missing } = servedInterfaces(cfg.interfaces);
  for (const m of missing) log.warn(`dhcp: interface ${m} not found or has no IPv4 address; not served`);
  if (interfaces.length === 0) throw new Error(`dhcp: no interface to serve (interfaces: ${cfg.interfaces.join(' ') || 'all but loopback'})`);

  const m = opts.metrics;
  const received = counting(m?.counter('ltsp_dhcp_packets_total', 'DHCP packets received, by port and message type'));
  const answered = counting(m?.counter('ltsp_dhcp_replies_total', 'proxyDHCP replies sent (or decided in dry-run), by kind'));
  const ignoredC = counting(m?.counter('ltsp_dhcp_ignored_total', 'DHCP packets not answered'));
  const badC = counting(m?.counter('ltsp_dhcp_decode_errors_total', 'DHCP packets that could not be decoded'));
  const events = opts.events; // undefined: no event objects built at all

  if (cfg.dhcp.port !== 0 && cfg.dhcp.port === cfg.dhcp.pxePort) throw new Error(`dhcp: DHCP_PORT and PXE_PORT are both ${cfg.dhcp.port}; they must differ`);
  await assertPortFree(cfg.dhcp.port);
  await assertPortFree(cfg.dhcp.pxePort);
  const sockets: Socket[] = [];
  const wild: Partial<Record<PortKind, Socket>> = {};
  const perIface = new Map<ServedInterface, Record<PortKind, Socket>>();
  try {
    wild.dhcp = await bindSocket('0.0.0.0', cfg.dhcp.port, true);
    sockets.push(wild.dhcp);
    wild.pxe = await bindSocket('0.0.0.0', cfg.dhcp.pxePort, true);
    sockets.push(wild.pxe);
  } catch (e) {
    for (const s of sockets) s.close();
    throw e;
  }
  const ports = { dhcp: wild.dhcp.address().port, pxe: wild.pxe.address().port };
  for (const iface of interfaces) {
    try {
      const dhcp = await bindSocket(iface.address, ports.dhcp, true);
      sockets.push(dhcp);
      const pxe = await bindSocket(iface.address, ports.pxe, true);
      sockets.push(pxe);
      for (const s of [dhcp, pxe]) s.setBroadcast(true);
      perIface.set(iface, { dhcp, pxe });
    } catch (e) {
      log.error(`dhcp: cannot bind ${iface.name} ${iface.address}: ${(e as Error).message}; interface not served`);
    }
  }
  const served = [...perIface.keys()];
  if (served.length === 0) {
    for (const s of sockets) s.close();
    throw new Error('dhcp: could not bind any interface address');
  }

  let policy: DhcpPolicy = policyFromConfig(opts.loaded, { pxe: ports.pxe });
  let serverIp = cfg.serverIp;

  function handle(msg: Buffer, rinfo: RemoteInfo, kind: PortKind, iface?: ServedInterface): void {
    let packet;
    try {
      packet = decodeDhcp(msg);
    } catch (e) {
      if (!(e instanceof DhcpDecodeError)) throw e;
      badC(kind, () => ({ port: kind }));
      log.debug(`dhcp: dropped ${msg.length}-byte packet from ${rinfo.address}:${rinfo.port}: ${e.message}`);
      return;
    }
    const facts = classify(packet, { srcPort: rinfo.port, dstPort: ports[kind] });
    const type = facts.messageTypeName;
    received(`${kind} ${type}`, () => ({ port: kind, type }));
    const targets = iface ? [iface] : interfacesForPacket(served, rinfo.address, packet.giaddr);
    if (targets.length === 0) {
      report(facts, { action: 'ignore', reason: `from ${rinfo.address}, not on a served subnet` }, kind);
      return;
    }
    for (const t of targets) {
      const server = serverIp ?? t.address;
      const d = decide(facts, policy, server);
      if (d.action === 'ignore') {
        report(facts, d, kind);
        return; // the reasons do not depend on the interface
      }
      const dest = replyDestination(facts, d.reply, rinfo, kind === 'pxe', {
        clientPort: opts.clientPort,
        relayPort: opts.relayPort,
        broadcastAddress: t.internal ? t.broadcast : undefined,
      });
      const bytes = encodeDhcp(buildReply(packet, d.reply));
      report(facts, d, kind, t, dest, server);
      if (opts.dryRun) continue;
      perIface.get(t)![kind].send(bytes, dest.port, dest.address, (err) => {
        if (err) log.warn(`dhcp: send to ${dest.address}:${dest.port} via ${t.name} failed: ${err.message}`);
      });
    }
  }

  /**
   * The packet's log line, boot event and counters. This runs for every packet, so the log
   * object and message are only built when their level is enabled, and the event only when
   * someone listens.
   */
  function report(f: DhcpFacts, d: Decision, kind: PortKind, iface?: ServedInterface, dest?: { address: string; port: number }, server?: string): void {
    // The client's address, for joining TFTP/HTTP events: ciaddr, else the address it asks
    // the LAN's DHCP server for (option 50 of the REQUEST we leave to the router).
    const ip = f.ciaddr !== '0.0.0.0' ? f.ciaddr : f.requestedIp;
    if (d.action === 'ignore') {
      ignoredC(kind, () => ({ port: kind }));
      if (log.isLevelEnabled('debug')) {
        const fields = { mac: f.mac, xid: f.xidHex, type: f.messageTypeName, port: ports[kind], arch: f.archName ?? null, ipxe: f.ipxe, decision: d.action, reason: d.reason };
        log.debug(fields, `dhcp ${f.mac} ${f.xidHex} ${f.messageTypeName}: ignore: ${d.reason}`);
      }
      events?.({ time: Date.now(), service: 'dhcp', kind: 'ignore', mac: f.mac, ip, outcome: d.reason, detail: { xid: f.xidHex, port: ports[kind], arch: f.arch } });
      return;
    }
    answered(d.kind, () => ({ kind: d.kind }));
    if (log.isLevelEnabled('info')) {
      const via = `${iface!.name} ${server} → ${dest!.address}:${dest!.port}`;
      const tag = `${f.archName}${f.ipxe ? ' iPXE' : ''}`;
      const fields = { mac: f.mac, xid: f.xidHex, type: f.messageTypeName, port: ports[kind], arch: f.archName ?? null, ipxe: f.ipxe, decision: d.action, reason: d.reason, kind: d.kind, file: d.bootFile, via, dryRun: opts.dryRun || undefined };
      log.info(fields, `dhcp ${f.mac} ${f.xidHex} ${tag} ${f.messageTypeName} → ${opts.dryRun ? 'would send ' : ''}${d.kind.toUpperCase()} ${d.reason} (${via})`);
    }
    events?.({ time: Date.now(), service: 'dhcp', kind: d.kind, mac: f.mac, ip, file: d.bootFile, outcome: 'ok', detail: { xid: f.xidHex, port: ports[kind], arch: f.arch, ipxe: f.ipxe, reason: d.reason, server, dryRun: opts.dryRun ?? false } });
  }

  const listen = (s: Socket, kind: PortKind, iface?: ServedInterface) => {
    s.on('message', (msg, rinfo) => {
      try {
        handle(msg, rinfo, kind, iface);
      } catch (e) {
        log.error(`dhcp: error handling a packet from ${rinfo.address}:${rinfo.port}: ${(e as Error).stack ?? e}`);
      }
    });
    s.on('error', (e) => log.error(`dhcp: socket error: ${e.message}`));
  };
  listen(wild.dhcp, 'dhcp');
  listen(wild.pxe, 'pxe');
  for (const [iface, s] of perIface) {
    listen(s.dhcp, 'dhcp', iface);
    listen(s.pxe, 'pxe', iface);
  }
  log.info(`dhcp: proxyDHCP on UDP ${ports.dhcp} and ${ports.pxe}, interfaces ${served.map((i) => `${i.name} ${i.address}`).join(', ')}${serverIp ? `, server address ${serverIp}` : ''}${opts.dryRun ? ' (dry run: nothing is sent)' : ''}`);

  let closed = false;
  return {
    ports,
    interfaces: served,
    reload(loaded) {
      policy = policyFromConfig(loaded, { pxe: ports.pxe });
      serverIp = loaded.config.serverIp;
      const same = loaded.config.interfaces.join(' ') === cfg.interfaces.join(' ') && loaded.config.dhcp.port === cfg.dhcp.port && loaded.config.dhcp.pxePort === cfg.dhcp.pxePort;
      if (!same) log.warn('dhcp: interfaces/ports changed in the config; restart ltsp-ts to apply them');
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
