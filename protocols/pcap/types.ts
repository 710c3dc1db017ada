/** What the capture reader returns. All buffers are views into the input buffer (no copies). */

/** LINKTYPE_* values (tcpdump.org/linktypes.html) the reader understands. */
export const LinkType = {
  NULL: 0, // BSD loopback: 4-byte address family in host byte order
  ETHERNET: 1,
  RAW: 101, // raw IPv4/IPv6, no link header
  LINUX_SLL: 113, // Linux "cooked" capture v1 (tcpdump -i any)
  IPV4: 228,
  LINUX_SLL2: 276, // Linux "cooked" capture v2 (tcpdump -i any since libpcap 1.10)
} as const;

/** Capture timestamp: whole seconds since the epoch plus nanoseconds (0..999 999 999). */
export interface Timestamp {
  sec: number;
  nsec: number;
}

/** One link-layer frame as stored in the file, before any protocol decoding. */
export interface RawFrame {
  /** 1-based position among the packet records of the file, as tshark/Wireshark number frames. */
  frame: number;
  ts: Timestamp;
  linkType: number;
  /** pcapng interface id (0 for classic pcap). */
  interfaceId: number;
  /** Bytes captured (may be shorter than origLen when the capture had a snap length). */
  data: Buffer;
  origLen: number;
}

/** A frame decoded down to an IPv4 UDP datagram or TCP segment. */
export interface IpPacket {
  frame: number;
  ts: Timestamp;
  /** 802.1Q/802.1ad VLAN ids, outermost first (empty when untagged). */
  vlans: number[];
  /** Source/destination MAC when the link layer has them (Ethernet; SLL has the source only). */
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  ttl: number;
  protocol: 'udp' | 'tcp';
  srcPort: number;
  dstPort: number;
  /** UDP payload or TCP segment data, as captured. */
  payload: Buffer;
  /** Payload length the UDP/IP headers announce (larger than payload.length when truncated). */
  payloadLength: number;
  /**
   * True when the capture cut the packet short (snap length): payload then holds fewer bytes
   * than the IP/UDP headers announce.
   */
  truncated: boolean;
  /** TCP only: sequence/ack numbers and flag letters (e.g. "S", "SA", "PA", "FA"). */
  tcp?: { seq: number; ack: number; flags: string };
}

/** A frame the reader did not turn into an IpPacket, and why (ARP, IPv6, fragment, ...). */
export interface SkippedFrame {
  frame: number;
  reason: string;
}

export interface Capture {
  format: 'pcap' | 'pcapng';
  /** Byte order of the file (of the first section for pcapng). */
  littleEndian: boolean;
  /** Number of packet records (frames) in the file. */
  frameCount: number;
  /** Timestamp of frame 1 (tshark's reference for relative times); undefined when empty. */
  firstTs?: Timestamp;
  packets: IpPacket[];
  skipped: SkippedFrame[];
}
