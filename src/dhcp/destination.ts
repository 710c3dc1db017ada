/**
 * Where a proxy reply goes (pure; RFC 2131 §4.1 "server sends to", PXE 2.1 §2.2):
 *  - relayed (giaddr set): to the relay, giaddr:67;
 *  - arrived on the PXE port: back to the request's source address and port (OVMF sends
 *    from 4011 and listens there, iPXE from 68); a source of 0.0.0.0 gets a broadcast;
 *  - port 67 with the broadcast flag, or no ciaddr: a broadcast to the client port (68);
 *  - otherwise unicast to ciaddr on the source port.
 */
import type { DhcpFacts, ReplySpec } from '../../protocols/dhcp/index.js';

export interface Destination {
  address: string;
  port: number;
  broadcast: boolean;
}

export interface DestinationOptions {
  /** Port relay agents listen on (67). */
  relayPort?: number;
  /** Port of DHCP clients (68). */
  clientPort?: number;
  /** Address broadcasts go to (255.255.255.255; 127.255.255.255 on loopback). */
  broadcastAddress?: string;
}

export function replyDestination(
  f: Pick<DhcpFacts, 'relayed' | 'giaddr'>,
  reply: Pick<ReplySpec, 'broadcast' | 'ciaddr' | 'yiaddr'>,
  src: { address: string; port: number },
  onPxePort: boolean,
  o: DestinationOptions = {},
): Destination {
  // Plain literals of one shape (a spread here made V8 take its slow path on every packet).
  const bcast = o.broadcastAddress ?? '255.255.255.255';
  if (f.relayed) return { address: f.giaddr, port: o.relayPort ?? 67, broadcast: false };
  if (onPxePort) return src.address === '0.0.0.0' ? { address: bcast, port: src.port, broadcast: true } : { address: src.address, port: src.port, broadcast: false };
  const ciaddr = reply.ciaddr && reply.ciaddr !== '0.0.0.0' ? reply.ciaddr : reply.yiaddr && reply.yiaddr !== '0.0.0.0' ? reply.yiaddr : undefined;
  if (reply.broadcast || !ciaddr) return { address: bcast, port: o.clientPort ?? 68, broadcast: true };
  return { address: ciaddr, port: src.port || (o.clientPort ?? 68), broadcast: false };
}
