/**
 * protocols/pcap: a pure capture reader (no I/O: it takes the file's bytes). Reads classic
 * pcap (both byte orders, µs and ns timestamps) and pcapng (SHB/IDB/EPB/SPB and the obsolete
 * PB, both byte orders, any if_tsresol) over Ethernet (with 802.1Q/802.1ad tags), Linux
 * cooked SLL and SLL2, raw IP and BSD loopback, and decodes IPv4 UDP datagrams and TCP
 * segments. Frames are numbered from 1 in file order, as tshark numbers them.
 *
 *   const cap = readCapture(readFileSync('boot.pcapng'));
 *   for (const p of cap.packets) if (p.protocol === 'udp' && p.dstPort === 67) ...
 *
 * Broken file structure throws PcapError (and nothing else); a frame that is merely not
 * IPv4 UDP/TCP, or has broken IP/UDP/TCP headers, lands in `skipped` with a reason.
 */
import { isClassicPcap, readClassic } from './classic.js';
import { PcapError } from './errors.js';
import { decodeFrame } from './network.js';
import { isPcapng, readPcapng } from './pcapng.js';
import type { Capture, IpPacket, RawFrame, SkippedFrame } from './types.js';

export { PcapError, type PcapErrorCode } from './errors.js';
export { LinkType, type Capture, type IpPacket, type RawFrame, type SkippedFrame, type Timestamp } from './types.js';
export { decodeFrame, type FrameResult } from './network.js';
export { writePcap, writeClassic, writePcapng, udpFrame, type UdpFrameSpec, type FrameToWrite, type ClassicOptions, type PcapngOptions } from './writer.js';

/** Calls `onFrame` for every packet record, in file order. Throws PcapError on bad structure. */
export function readFrames(buf: Buffer, onFrame: (f: RawFrame) => void): { format: 'pcap' | 'pcapng'; littleEndian: boolean } {
  if (isPcapng(buf)) return { format: 'pcapng', ...readPcapng(buf, onFrame) };
  if (isClassicPcap(buf)) return { format: 'pcap', littleEndian: readClassic(buf, onFrame).littleEndian };
  const head = buf.subarray(0, 4).toString('hex') || '(empty)';
  throw new PcapError('bad-magic', `not a pcap or pcapng file (starts with ${head})`, 0);
}

/** Reads a whole capture and decodes every frame to IPv4 UDP/TCP where it can. */
export function readCapture(buf: Buffer): Capture {
  const packets: IpPacket[] = [];
  const skipped: SkippedFrame[] = [];
  let frameCount = 0;
  let firstTs: Capture['firstTs'];
  const { format, littleEndian } = readFrames(buf, (f) => {
    frameCount = f.frame;
    firstTs ??= f.ts;
    const r = decodeFrame(f);
    if (r.ok) packets.push(r.packet);
    else skipped.push({ frame: f.frame, reason: r.reason });
  });
  return { format, littleEndian, frameCount, ...(firstTs ? { firstTs } : {}), packets, skipped };
}

/** Seconds (with fraction) between two timestamps: b - a. */
export function secondsBetween(a: { sec: number; nsec: number }, b: { sec: number; nsec: number }): number {
  return b.sec - a.sec + (b.nsec - a.nsec) / 1e9;
}
