/**
 * Building replies: a BOOTREPLY that copies from the request what RFC 2131 Table 3 says
 * is copied (xid, htype, hlen, chaddr, giaddr, flags) and carries the options given, with
 * option 53 first as every server does. `secs` and `hops` are copied too: dnsmasq builds
 * its reply by rewriting the request in place, so its replies carry them, and copying
 * them keeps our replies field-for-field equal to dnsmasq's.
 */
import { OPT } from './options.js';
import { BOOTREPLY, FLAG_BROADCAST, encodeDhcp, type DhcpOption, type DhcpPacket, type EncodeOptions } from './packet.js';

export interface ReplySpec {
  /** Option 53 value (DHCPOFFER = 2, DHCPACK = 5, ...). */
  messageType: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  sname?: string;
  file?: string;
  /** Set the broadcast flag (default: keep the request's flags). */
  broadcast?: boolean;
  /** Options after 53, in this order. */
  options?: DhcpOption[];
}

export function buildReply(req: Pick<DhcpPacket, 'htype' | 'hlen' | 'xid' | 'chaddr' | 'giaddr' | 'flags'> & Partial<Pick<DhcpPacket, 'secs' | 'hops'>>, spec: ReplySpec): DhcpPacket {
  const flags = spec.broadcast === undefined ? req.flags : spec.broadcast ? req.flags | FLAG_BROADCAST : req.flags & ~FLAG_BROADCAST;
  const chaddr = new Uint8Array(16);
  chaddr.set(req.chaddr.subarray(0, 16));
  return {
    op: BOOTREPLY,
    htype: req.htype,
    hlen: req.hlen,
    hops: req.hops ?? 0,
    xid: req.xid,
    secs: req.secs ?? 0,
    flags,
    ciaddr: spec.ciaddr ?? '0.0.0.0',
    yiaddr: spec.yiaddr ?? '0.0.0.0',
    siaddr: spec.siaddr ?? '0.0.0.0',
    giaddr: req.giaddr,
    chaddr,
    sname: spec.sname ?? '',
    file: spec.file ?? '',
    options: [{ code: OPT.MESSAGE_TYPE, data: Uint8Array.of(spec.messageType) }, ...(spec.options ?? []).filter((o) => o.code !== OPT.MESSAGE_TYPE)],
  };
}

/** buildReply + encodeDhcp. */
export function encodeReply(req: Parameters<typeof buildReply>[0], spec: ReplySpec, opts?: EncodeOptions): Uint8Array {
  return encodeDhcp(buildReply(req, spec), opts);
}
