/**
 * Link layer -> IPv4 -> UDP/TCP for one captured frame. A frame that is not IPv4 UDP/TCP, or
 * whose headers are broken, is reported as skipped with a reason rather than thrown: one odd
 * frame must not make a whole capture unreadable (tshark also shows such frames and goes on).
 */
import { LinkType, type IpPacket, type RawFrame } from './types.js';

const ETH_IPV4 = 0x0800;
const ETH_VLAN = [0x8100, 0x88a8, 0x9100];
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

export type FrameResult = { ok: true; packet: IpPacket } | { ok: false; reason: string };

const skip = (reason: string): FrameResult => ({ ok: false, reason });

function mac(b: Buffer, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

interface L3 {
  etherType: number;
  offset: number;
  vlans: number[];
  srcMac?: string;
  dstMac?: string;
}

/** Finds the network-layer protocol and where its header starts, per link type. */
function linkLayer(linkType: number, d: Buffer): L3 | string {
  switch (linkType) {
    case LinkType.ETHERNET: {
      if (d.length < 14) return 'short Ethernet header';
      const vlans: number[] = [];
      let off = 12;
      let type = d.readUInt16BE(off);
      while (ETH_VLAN.includes(type)) {
        if (d.length < off + 6) return 'short VLAN tag';
        vlans.push(d.readUInt16BE(off + 2) & 0x0fff);
        off += 4;
        type = d.readUInt16BE(off);
      }
      return { etherType: type, offset: off + 2, vlans, dstMac: mac(d, 0), srcMac: mac(d, 6) };
    }
    case LinkType.LINUX_SLL: {
      // packet type(2) ARPHRD(2) addr len(2) addr(8) protocol(2)
      if (d.length < 16) return 'short SLL header';
      const alen = d.readUInt16BE(4);
      return { etherType: d.readUInt16BE(14), offset: 16, vlans: [], ...(alen === 6 ? { srcMac: mac(d, 6) } : {}) };
    }
    case LinkType.LINUX_SLL2: {
      // protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) addr len(1) addr(8)
      if (d.length < 20) return 'short SLL2 header';
      return { etherType: d.readUInt16BE(0), offset: 20, vlans: [], ...(d[11] === 6 ? { srcMac: mac(d, 12) } : {}) };
    }
    case LinkType.RAW:
    case LinkType.IPV4: {
      if (d.length < 1) return 'empty frame';
      return { etherType: d[0]! >> 4 === 4 ? ETH_IPV4 : 0x86dd, offset: 0, vlans: [] };
    }
    case LinkType.NULL: {
      if (d.length < 4) return 'short loopback header';
      // Address family in the capturing host's byte order; AF_INET is 2 everywhere.
      const af = d.readUInt32LE(0) === 2 || d.readUInt32BE(0) === 2 ? ETH_IPV4 : 0;
      return { etherType: af, offset: 4, vlans: [] };
    }
    default:
      return `unsupported link type ${linkType}`;
  }
}

function tcpFlags(b: number): string {
  const names = 'FSRPAUEC'; // bit 0 = FIN ... bit 7 = CWR
  let s = '';
  for (const i of [1, 0, 2, 3, 4, 5, 6, 7]) if (b & (1 << i)) s += names[i];
  return s;
}

/** Decodes one raw frame into an IPv4 UDP/TCP packet, or says why not. */
export function decodeFrame(f: RawFrame): FrameResult {
  const d = f.data;
  const l3 = linkLayer(f.linkType, d);
  if (typeof l3 === 'string') return skip(l3);
  if (l3.etherType !== ETH_IPV4) return skip(`not IPv4 (ethertype 0x${l3.etherType.toString(16).padStart(4, '0')})`);

  const ip = l3.offset;
  if (d.length < ip + 20) return skip('short IPv4 header');
  const vihl = d[ip]!;
  if (vihl >> 4 !== 4) return skip(`IP version ${vihl >> 4}`);
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return skip(`bad IPv4 header length ${ihl}`);
  if (d.length < ip + ihl) return skip('short IPv4 options');
  const totalLen = d.readUInt16BE(ip + 2);
  if (totalLen < ihl) return skip(`bad IPv4 total length ${totalLen}`);
  const frag = d.readUInt16BE(ip + 6);
  if ((frag & 0x1fff) !== 0 || (frag & 0x2000) !== 0) return skip('IPv4 fragment');
  const proto = d[ip + 9]!;
  const src = `${d[ip + 12]}.${d[ip + 13]}.${d[ip + 14]}.${d[ip + 15]}`;
  const dst = `${d[ip + 16]}.${d[ip + 17]}.${d[ip + 18]}.${d[ip + 19]}`;
  // Ethernet pads short frames to 60 bytes: the IP total length says where the packet ends.
  // A snap length may have cut it before that: then we keep what we have and say so.
  const ipEnd = ip + totalLen;
  const end = Math.min(ipEnd, d.length);
  let truncated = ipEnd > d.length;
  const l4 = ip + ihl;
  const base = { frame: f.frame, ts: f.ts, vlans: l3.vlans, src, dst, ttl: d[ip + 8]! };
  const macs = { ...(l3.srcMac !== undefined ? { srcMac: l3.srcMac } : {}), ...(l3.dstMac !== undefined ? { dstMac: l3.dstMac } : {}) };

  if (proto === IPPROTO_UDP) {
    if (end < l4 + 8) return skip('short UDP header');
    const udpLen = d.readUInt16BE(l4 + 4);
    if (udpLen < 8) return skip(`bad UDP length ${udpLen}`);
    if (l4 + udpLen > ipEnd) return skip(`UDP length ${udpLen} exceeds the IP packet`);
    const udpEnd = Math.min(l4 + udpLen, end);
    if (l4 + udpLen > d.length) truncated = true;
    return {
      ok: true,
      packet: {
        ...base,
        ...macs,
        protocol: 'udp',
        srcPort: d.readUInt16BE(l4),
        dstPort: d.readUInt16BE(l4 + 2),
        payload: d.subarray(l4 + 8, udpEnd),
        payloadLength: udpLen - 8,
        truncated,
      },
    };
  }
  if (proto === IPPROTO_TCP) {
    if (end < l4 + 20) return skip('short TCP header');
    const dataOff = (d[l4 + 12]! >> 4) * 4;
    if (dataOff < 20) return skip(`bad TCP data offset ${dataOff}`);
    if (l4 + dataOff > ipEnd) return skip('TCP header exceeds the IP packet');
    if (l4 + dataOff > end) return skip('short TCP options');
    return {
      ok: true,
      packet: {
        ...base,
        ...macs,
        protocol: 'tcp',
        srcPort: d.readUInt16BE(l4),
        dstPort: d.readUInt16BE(l4 + 2),
        payload: d.subarray(l4 + dataOff, end),
        payloadLength: totalLen - ihl - dataOff,
        truncated,
        tcp: { seq: d.readUInt32BE(l4 + 4), ack: d.readUInt32BE(l4 + 8), flags: tcpFlags(d[l4 + 13]!) },
      },
    };
  }
  return skip(`IP protocol ${proto}`);
}
