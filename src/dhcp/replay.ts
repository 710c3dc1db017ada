/**
 * Replay of a capture through the decision core: every client DHCP packet (BOOTREQUEST to
 * port 67 or the PXE port) is classified and decided as the service would, and the reply
 * bytes we would send are built. Pure apart from the input bytes; used by
 * `ltsp-ts replay` and by the differential tests against dnsmasq's captured replies.
 *
 * The JSON line format (`ltsp-ts replay --json`) is a contract: keep the field names.
 */
import {
  BOOTREQUEST, DhcpDecodeError, buildReply, classify, decodeDhcp, encodeDhcp, getOption, readIp, readString,
  OPT, type DhcpFacts, type DhcpPacket, type ReplySpec,
} from '../../protocols/dhcp/index.js';
import { readCapture, type IpPacket } from '../../protocols/pcap/index.js';
import type { LoadedConfig } from '../config/index.js';
import { decide } from './decide.js';
import { policyFromConfig } from './policy.js';

export interface ReplayReply {
  op: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  flags: number;
  sname: string;
  file: string;
  /** option number → value as hex, in the order we send them */
  options: Record<string, string>;
}

export interface ReplayLine {
  /** 1-based frame number, as tshark numbers it */
  frame: number;
  /** destination UDP port of the client packet */
  port: number;
  xid: string;
  mac: string;
  facts: DhcpFacts | null;
  action: 'reply' | 'ignore';
  reason: string;
  reply: ReplayReply | null;
  /** UDP payload we would send, hex */
  replyHex: string | null;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function replyFields(p: DhcpPacket): ReplayReply {
  const options: Record<string, string> = {};
  for (const o of p.options) options[String(o.code)] = hex(o.data);
  return { op: p.op, ciaddr: p.ciaddr, yiaddr: p.yiaddr, siaddr: p.siaddr, flags: p.flags, sname: p.sname, file: p.file, options };
}

/**
 * The proxy server's address in a capture: the source of the first reply that carries a
 * PXEClient/HTTPClient vendor class (what dnsmasq answered from).
 */
export function captureServerAddress(packets: readonly IpPacket[]): string | undefined {
  for (const ip of packets) {
    if (ip.protocol !== 'udp' || (ip.srcPort !== 67 && ip.srcPort !== 4011)) continue;
    try {
      const p = decodeDhcp(ip.payload);
      const vc = readString(getOption(p, OPT.VENDOR_CLASS));
      if (p.op === 2 && vc && /^(PXEClient|HTTPClient)/.test(vc)) return readIp(getOption(p, OPT.SERVER_ID)) ?? ip.src;
    } catch {
      // not DHCP: keep looking
    }
  }
  return undefined;
}

export function isClientDhcp(ip: IpPacket, pxePort: number): boolean {
  return ip.protocol === 'udp' && (ip.dstPort === 67 || ip.dstPort === pxePort) && ip.payload.length > 0 && ip.payload[0] === BOOTREQUEST;
}

/** A client DHCP packet of a capture, decoded and classified, or the line saying why not. */
export type ClientRequest = { ip: IpPacket; req: DhcpPacket; facts: DhcpFacts } | { ip: IpPacket; undecodable: ReplayLine };

/** The client DHCP packets of a capture (to 67 or the PXE port), in capture order. */
export function* clientRequests(packets: readonly IpPacket[], pxePort: number): Generator<ClientRequest> {
  for (const ip of packets) {
    if (!isClientDhcp(ip, pxePort)) continue;
    let req: DhcpPacket;
    try {
      req = decodeDhcp(ip.payload);
    } catch (e) {
      if (!(e instanceof DhcpDecodeError)) throw e;
      yield { ip, undecodable: { frame: ip.frame, port: ip.dstPort, xid: '', mac: '', facts: null, action: 'ignore', reason: `undecodable: ${e.message}`, reply: null, replyHex: null } };
      continue;
    }
    yield { ip, req, facts: classify(req, { srcPort: ip.srcPort, dstPort: ip.dstPort }) };
  }
}

/** Fills a replay line's reply fields from the reply we would send. */
export function withReply(line: ReplayLine, req: DhcpPacket, reply: ReplySpec): ReplayLine {
  const bytes = encodeDhcp(buildReply(req, reply));
  line.reply = replyFields(decodeDhcp(bytes));
  line.replyHex = hex(bytes);
  return line;
}

export function replayPackets(packets: readonly IpPacket[], loaded: LoadedConfig, server: string): ReplayLine[] {
  const policy = policyFromConfig(loaded);
  const out: ReplayLine[] = [];
  for (const r of clientRequests(packets, policy.pxePort)) {
    if ('undecodable' in r) {
      out.push(r.undecodable);
      continue;
    }
    const { ip, req, facts } = r;
    const d = decide(facts, policy, server);
    const line: ReplayLine = { frame: ip.frame, port: ip.dstPort, xid: facts.xidHex, mac: facts.mac, facts, action: d.action, reason: d.reason, reply: null, replyHex: null };
    out.push(d.action === 'reply' ? withReply(line, req, d.reply) : line);
  }
  return out;
}

/** Reads a capture (pcap/pcapng bytes) and replays it; `server` defaults to the capture's proxy address. */
export function replayCapture(buf: Buffer, loaded: LoadedConfig, server?: string): { server: string; lines: ReplayLine[] } {
  const cap = readCapture(buf);
  const addr = server ?? loaded.config.serverIp ?? captureServerAddress(cap.packets) ?? '192.0.2.1';
  return { server: addr, lines: replayPackets(cap.packets, loaded, addr) };
}
