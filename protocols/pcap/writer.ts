/**
 * Capture writers, for tests and for feeding our own reply bytes to tshark: classic pcap (both
 * byte orders, µs or ns), pcapng (EPB or SPB, any if_tsresol), and Ethernet + IPv4 + UDP
 * frames with correct IP and UDP checksums so tshark has nothing to complain about but the
 * payload.
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

/** A frame to write: link-layer bytes plus timestamp; linkType defaults to Ethernet. */
export interface FrameToWrite {
  data: Buffer;
  ts?: { sec: number; nsec: number };
  linkType?: number;
  origLen?: number;
}

export interface ClassicOptions {
  littleEndian?: boolean; // default true
  nanoseconds?: boolean; // default false (µs)
  linkType?: number; // default 1 (Ethernet)
}

const defaultTs = (i: number) => ({ sec: 1_700_000_000 + i, nsec: 0 });

/** 16/32-bit writers in the file's byte order. */
function writers(le: boolean) {
  return {
    u16: (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at)),
    u32: (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at)),
  };
}

/** A classic pcap file in either byte order, with µs or ns timestamps. */
export function writeClassic(frames: FrameToWrite[], o: ClassicOptions = {}): Buffer {
  const { u16, u32 } = writers(o.littleEndian ?? true);
  const hdr = Buffer.alloc(24);
  u32(hdr, o.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(hdr, 2, 4);
  u16(hdr, 4, 6);
  u32(hdr, 262144, 16);
  u32(hdr, o.linkType ?? 1, 20);
  const parts: Buffer[] = [hdr];
  frames.forEach((f, i) => {
    const rec = Buffer.alloc(16);
    const t = f.ts ?? defaultTs(i);
    u32(rec, t.sec, 0);
    u32(rec, o.nanoseconds ? t.nsec : Math.floor(t.nsec / 1000), 4);
    u32(rec, f.data.length, 8);
    u32(rec, f.origLen ?? f.data.length, 12);
    parts.push(rec, f.data);
  });
  return Buffer.concat(parts);
}

export interface PcapngOptions {
  littleEndian?: boolean; // default true
  /** if_tsresol byte for every interface (default 6 = µs; 9 = ns; 0x80|n = 2^-n). */
  tsresol?: number;
  /** Write Simple Packet Blocks (no timestamps; single interface) instead of EPBs. */
  simple?: boolean;
}

/** A pcapng file with one SHB, one IDB per distinct link type, and an EPB or SPB per frame. */
export function writePcapng(frames: FrameToWrite[], o: PcapngOptions = {}): Buffer {
  const { u16, u32 } = writers(o.littleEndian ?? true);
  const block = (type: number, body: Buffer): Buffer => {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
    const b = Buffer.alloc(12 + padded.length);
    u32(b, type, 0);
    u32(b, b.length, 4);
    u32(b, b.length, b.length - 4);
    padded.copy(b, 8);
    return b;
  };
  const w = (size: number, fill: (b: Buffer) => void): Buffer => {
    const b = Buffer.alloc(size);
    fill(b);
    return b;
  };
  const shb = w(16, (b) => {
    u32(b, 0x1a2b3c4d, 0);
    u16(b, 1, 4);
    b.writeInt32LE(-1, 8); // section length unknown (-1 is the same in both byte orders)
    b.writeInt32LE(-1, 12);
  });
  const parts: Buffer[] = [block(0x0a0d0d0a, shb)];
  const resol = o.tsresol ?? 6;
  const unitsPerSec = resol & 0x80 ? 1n << BigInt(resol & 0x7f) : 10n ** BigInt(resol);
  const ifaces = new Map<number, number>();
  for (const f of frames) {
    const lt = f.linkType ?? 1;
    if (ifaces.has(lt)) continue;
    ifaces.set(lt, ifaces.size);
    parts.push(
      block(
        1,
        w(20, (b) => {
          u16(b, lt, 0);
          u32(b, 262144, 4);
          u16(b, 9, 8); // if_tsresol
          u16(b, 1, 10);
          b[12] = resol;
          // 3 bytes padding, then opt_endofopt (4 zero bytes)
        }),
      ),
    );
  }
  frames.forEach((f, i) => {
    if (o.simple) {
      parts.push(block(3, Buffer.concat([w(4, (b) => u32(b, f.origLen ?? f.data.length, 0)), f.data])));
      return;
    }
    const t = f.ts ?? defaultTs(i);
    const units = BigInt(t.sec) * unitsPerSec + (BigInt(t.nsec) * unitsPerSec) / 1_000_000_000n;
    const head = w(20, (b) => {
      u32(b, ifaces.get(f.linkType ?? 1)!, 0);
      u32(b, Number(units >> 32n), 4);
      u32(b, Number(units & 0xffffffffn), 8);
      u32(b, f.data.length, 12);
      u32(b, f.origLen ?? f.data.length, 16);
    });
    parts.push(block(6, Buffer.concat([head, f.data])));
  });
  return Buffer.concat(parts);
}

/** A classic little-endian µs Ethernet pcap holding `frames`, one second apart unless times are given. */
export function writePcap(frames: Buffer[], times?: { sec: number; usec: number }[]): Buffer {
  return writeClassic(frames.map((data, i) => ({ data, ...(times?.[i] ? { ts: { sec: times[i]!.sec, nsec: times[i]!.usec * 1000 } } : {}) })));
}
