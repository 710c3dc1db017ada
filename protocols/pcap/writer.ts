/**
 * A minimal classic-pcap writer (little-endian, µs, Ethernet) for tests and for feeding our
 * own reply bytes to tshark. Builds Ethernet + IPv4 + UDP frames with correct IP and UDP
 * checksums so tshark has nothing to complain about but the payload.
 */
export interface UdpFrameSpec {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
  ttl?: number;
}

function macBytes(m: string): Buffer {
  const b = Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
  if (b.length !== 6) throw new Error(`bad MAC address '${m}'`);
  return b;
}

function ipBytes(a: string): Buffer {
  const b = Buffer.from(a.split('.').map((x) => Number(x)));
  if (b.length !== 4) throw new Error(`bad IPv4 address '${a}'`);
  return b;
}

/** Internet checksum (RFC 1071) over `parts`. */
function checksum(parts: Buffer[]): number {
  let sum = 0;
  let odd: number | undefined;
  for (const p of parts) {
    for (const byte of p) {
      if (odd === undefined) odd = byte;
      else {
        sum += (odd << 8) | byte;
        odd = undefined;
      }
    }
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One Ethernet/IPv4/UDP frame. */
export function udpFrame(s: UdpFrameSpec): Buffer {
  const eth = Buffer.concat([macBytes(s.dstMac ?? 'ff:ff:ff:ff:ff:ff'), macBytes(s.srcMac ?? '02:00:00:00:00:01'), Buffer.from([0x08, 0x00])]);
  const udpLen = 8 + s.payload.length;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + udpLen, 2);
  ip[8] = s.ttl ?? 64;
  ip[9] = 17;
  ipBytes(s.src).copy(ip, 12);
  ipBytes(s.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum([ip]), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(s.srcPort, 0);
  udp.writeUInt16BE(s.dstPort, 2);
  udp.writeUInt16BE(udpLen, 4);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), Buffer.from([udpLen >> 8, udpLen & 0xff])]);
  udp.writeUInt16BE(checksum([pseudo, udp, s.payload]) || 0xffff, 6);
  return Buffer.concat([eth, ip, udp, s.payload]);
}

/** A classic pcap file (LINKTYPE_ETHERNET, µs) holding `frames`, one second apart unless times are given. */
export function writePcap(frames: Buffer[], times?: { sec: number; usec: number }[]): Buffer {
  const hdr = Buffer.alloc(24);
  hdr.writeUInt32LE(0xa1b2c3d4, 0);
  hdr.writeUInt16LE(2, 4);
  hdr.writeUInt16LE(4, 6);
  hdr.writeUInt32LE(262144, 16);
  hdr.writeUInt32LE(1, 20);
  const parts: Buffer[] = [hdr];
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    const t = times?.[i] ?? { sec: 1_700_000_000 + i, usec: 0 };
    rec.writeUInt32LE(t.sec, 0);
    rec.writeUInt32LE(t.usec, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  });
  return Buffer.concat(parts);
}
