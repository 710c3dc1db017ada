/**
 * DHCPv4 + PXE wire codec: pure functions over bytes, no I/O.
 *
 *   decodeDhcp(bytes)       → DhcpPacket (throws only DhcpDecodeError)
 *   encodeDhcp(packet)      → bytes (a decoded packet re-encodes to identical bytes)
 *   classify(packet, ports) → DhcpFacts (message type, MAC, arch, PXE/HTTP/iPXE, relay, Pi, ...)
 *   typedOptions(packet)    → TypedOptions (options 1..175 a netboot server reads)
 *   buildReply(req, spec)   → DhcpPacket for an OFFER/ACK
 */
export * from './errors.js';
export * from './packet.js';
export * from './options.js';
export * from './arch.js';
export * from './pxe.js';
export * from './ipxe.js';
export * from './tlv.js';
export * from './classify.js';
export * from './builder.js';
export * from './client-packets.js';
