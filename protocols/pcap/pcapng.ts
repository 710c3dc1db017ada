/**
 * pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks, each `type, total length, body,
 * total length`. A Section Header Block (SHB) starts every section and fixes its byte order
 * (byte-order magic 1a2b3c4d); Interface Description Blocks (IDB) give each interface's link
 * type and timestamp resolution; packets come in Enhanced (EPB), Simple (SPB) or the obsolete
 * Packet Block. Other blocks (name resolution, statistics, DSB, custom) are skipped but their
 * framing is still checked.
 */
import { ByteView } from './bytes.js';
import { PcapError } from './errors.js';
import type { RawFrame, Timestamp } from './types.js';

export const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 1;
const BT_PB = 2; // obsolete Packet Block
const BT_SPB = 3;
const BT_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

interface Interface {
  linkType: number;
  snapLen: number;
  /** Timestamp units per second as a BigInt (10^6 unless if_tsresol says otherwise). */
  unitsPerSec: bigint;
  /** if_tsoffset: seconds added to every timestamp. */
  offsetSec: bigint;
}

export function isPcapng(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32BE(0) === BT_SHB;
}

const pad4 = (n: number) => (n + 3) & ~3;

/** Parses IDB options for if_tsresol and if_tsoffset. */
function interfaceOptions(v: ByteView, off: number, end: number): Pick<Interface, 'unitsPerSec' | 'offsetSec'> {
  let unitsPerSec = 1_000_000n;
  let offsetSec = 0n;
  while (off + 4 <= end) {
    const code = v.u16(off, 'option code');
    const len = v.u16(off + 2, 'option length');
    if (code === 0) break; // opt_endofopt
    if (off + 4 + len > end) throw new PcapError('bad-length', `IDB option ${code} runs past its block`, off);
    if (code === OPT_IF_TSRESOL && len >= 1) {
      const r = v.buf[off + 4]!;
      const exp = BigInt(r & 0x7f);
      // High bit set: negative power of 2, else negative power of 10. Cap the exponent so a
      // hostile value cannot make BigInt arithmetic explode.
      if (exp > 64n) throw new PcapError('bad-length', `if_tsresol ${r} out of range`, off + 4);
      unitsPerSec = r & 0x80 ? 1n << exp : 10n ** exp;
    } else if (code === OPT_IF_TSOFFSET && len >= 8) {
      offsetSec = v.littleEndian ? v.buf.readBigInt64LE(off + 4) : v.buf.readBigInt64BE(off + 4);
    }
    off += 4 + pad4(len);
  }
  return { unitsPerSec, offsetSec };
}

function timestamp(iface: Interface, high: number, low: number): Timestamp {
  const units = (BigInt(high) << 32n) | BigInt(low);
  const sec = units / iface.unitsPerSec + iface.offsetSec;
  const rem = units % iface.unitsPerSec;
  return { sec: Number(sec), nsec: Number((rem * 1_000_000_000n) / iface.unitsPerSec) };
}

/** Walks every block; calls `onFrame` for each packet block. Returns the first section's byte order. */
export function readPcapng(buf: Buffer, onFrame: (f: RawFrame) => void): { littleEndian: boolean } {
  const v = new ByteView(buf, true);
  let firstLittleEndian: boolean | undefined;
  let interfaces: Interface[] = [];
  let frame = 0;
  let off = 0;

  while (off < buf.length) {
    v.need(off, 12, 'block header');
    let type = v.u32(off, 'block type');
    if (buf.readUInt32BE(off) === BT_SHB) {
      // The byte-order magic decides how this section (including this block's length) is read.
      v.need(off, 12, 'section header');
      const bom = buf.readUInt32LE(off + 8);
      if (bom === BYTE_ORDER_MAGIC) v.littleEndian = true;
      else if (buf.readUInt32BE(off + 8) === BYTE_ORDER_MAGIC) v.littleEndian = false;
      else throw new PcapError('bad-magic', 'pcapng section header without byte-order magic', off + 8);
      firstLittleEndian ??= v.littleEndian;
      type = BT_SHB;
    } else if (firstLittleEndian === undefined) {
      throw new PcapError('bad-block', 'pcapng file does not start with a section header', off);
    }
    const total = v.u32(off + 4, 'block length');
    if (total < 12 || total % 4 !== 0) throw new PcapError('bad-length', `block length ${total}`, off + 4);
    v.need(off, total, `block of type 0x${type.toString(16)}`);
    const trailer = v.u32(off + total - 4, 'block trailing length');
    if (trailer !== total) throw new PcapError('bad-length', `block length ${total} but trailing length ${trailer}`, off + total - 4);
    const body = off + 8;
    const bodyEnd = off + total - 4;

    switch (type) {
      case BT_SHB: {
        if (bodyEnd - body < 16) throw new PcapError('bad-length', 'section header too short', off);
        const major = v.u16(body + 4, 'pcapng version');
        if (major !== 1) throw new PcapError('unsupported', `pcapng version ${major}`, body + 4);
        interfaces = []; // interface ids are per section
        break;
      }
      case BT_IDB: {
        if (bodyEnd - body < 8) throw new PcapError('bad-length', 'interface description too short', off);
        interfaces.push({
          linkType: v.u16(body, 'link type'),
          snapLen: v.u32(body + 4, 'snap length'),
          ...interfaceOptions(v, body + 8, bodyEnd),
        });
        break;
      }
      case BT_EPB:
      case BT_PB: {
        if (bodyEnd - body < 20) throw new PcapError('bad-length', 'packet block too short', off);
        const ifId = type === BT_EPB ? v.u32(body, 'interface id') : v.u16(body, 'interface id');
        const iface = interfaces[ifId];
        if (!iface) throw new PcapError('bad-block', `packet for undeclared interface ${ifId}`, body);
        const capLen = v.u32(body + 12, 'captured length');
        const origLen = v.u32(body + 16, 'original length');
        if (body + 20 + pad4(capLen) > bodyEnd) throw new PcapError('bad-length', `captured length ${capLen} exceeds its block`, body + 12);
        frame++;
        onFrame({
          frame,
          ts: timestamp(iface, v.u32(body + 4, 'timestamp'), v.u32(body + 8, 'timestamp')),
          linkType: iface.linkType,
          interfaceId: ifId,
          data: buf.subarray(body + 20, body + 20 + capLen),
          origLen,
        });
        break;
      }
      case BT_SPB: {
        // Simple Packet Block: always interface 0, no timestamp; captured length is the
        // smaller of the original length and the interface's snap length.
        const iface = interfaces[0];
        if (!iface) throw new PcapError('bad-block', 'simple packet block before any interface', off);
        if (bodyEnd - body < 4) throw new PcapError('bad-length', 'simple packet block too short', off);
        const origLen = v.u32(body, 'original length');
        const room = bodyEnd - body - 4;
        const capLen = Math.min(origLen, iface.snapLen || origLen, room);
        frame++;
        onFrame({ frame, ts: { sec: 0, nsec: 0 }, linkType: iface.linkType, interfaceId: 0, data: buf.subarray(body + 4, body + 4 + capLen), origLen });
        break;
      }
      default:
        break; // NRB, ISB, DSB, custom blocks: nothing we need
    }
    off += total;
  }
  return { littleEndian: firstLittleEndian ?? true };
}
