/**
 * Classic libpcap files: a 24-byte global header, then records of a 16-byte header + data.
 * The magic says the byte order (a1b2c3d4 as written by the capturing host) and the
 * timestamp unit: a1b2c3d4 = microseconds, a1b23c4d = nanoseconds.
 */
import { ByteView } from './bytes.js';
import { PcapError } from './errors.js';
import type { RawFrame } from './types.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** No sane capture has records this large (pcap's own limit is 256 KiB; allow 16 MiB). */
const MAX_RECORD = 16 * 1024 * 1024;

export interface ClassicHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  linkType: number;
  snapLen: number;
}

export function isClassicPcap(buf: Buffer): boolean {
  if (buf.length < 4) return false;
  const be = buf.readUInt32BE(0);
  const le = buf.readUInt32LE(0);
  return be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS || le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS;
}

/** Walks the records of a classic pcap file, calling `onFrame` for each. */
export function readClassic(buf: Buffer, onFrame: (f: RawFrame) => void): ClassicHeader {
  const be = buf.readUInt32BE(0);
  const littleEndian = !(be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS);
  const v = new ByteView(buf, littleEndian);
  const magic = v.u32(0, 'pcap magic');
  const nanoseconds = magic === PCAP_MAGIC_NS;
  v.need(0, 24, 'pcap file header');
  const major = v.u16(4, 'pcap version');
  if (major !== 2) throw new PcapError('unsupported', `pcap version ${major}.${v.u16(6, 'pcap version')}`, 4);
  const snapLen = v.u32(16, 'snap length');
  // The low 16 bits are the link type; higher bits may carry FCS information.
  const linkType = v.u32(20, 'link type') & 0xffff;

  let off = 24;
  let frame = 0;
  while (off < buf.length) {
    v.need(off, 16, `record header of frame ${frame + 1}`);
    const sec = v.u32(off, 'timestamp');
    const frac = v.u32(off + 4, 'timestamp');
    const inclLen = v.u32(off + 8, 'captured length');
    const origLen = v.u32(off + 12, 'original length');
    if (inclLen > MAX_RECORD) throw new PcapError('bad-length', `frame ${frame + 1}: captured length ${inclLen} is too large`, off + 8);
    const nsec = nanoseconds ? frac : frac * 1000;
    if (nsec > 999_999_999) throw new PcapError('bad-length', `frame ${frame + 1}: sub-second timestamp ${frac} out of range`, off + 4);
    const data = v.slice(off + 16, inclLen, `data of frame ${frame + 1}`);
    frame++;
    onFrame({ frame, ts: { sec, nsec }, linkType, interfaceId: 0, data, origLen });
    off += 16 + inclLen;
  }
  return { littleEndian, nanoseconds, linkType, snapLen };
}
