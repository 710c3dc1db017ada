/**
 * Bounds-checked integer reads with a per-file byte order. Every read past the end of the
 * buffer becomes a PcapError('truncated') so that callers never see a RangeError.
 */
import { PcapError } from './errors.js';

export class ByteView {
  constructor(
    readonly buf: Buffer,
    public littleEndian: boolean,
  ) {}

  need(offset: number, len: number, what: string): void {
    if (offset < 0 || len < 0 || offset + len > this.buf.length) {
      throw new PcapError('truncated', `${what}: needs ${len} bytes, ${Math.max(0, this.buf.length - offset)} left`, offset);
    }
  }

  u16(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.littleEndian ? this.buf.readUInt16LE(offset) : this.buf.readUInt16BE(offset);
  }

  u32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.littleEndian ? this.buf.readUInt32LE(offset) : this.buf.readUInt32BE(offset);
  }

  i32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.littleEndian ? this.buf.readInt32LE(offset) : this.buf.readInt32BE(offset);
  }

  slice(offset: number, len: number, what: string): Buffer {
    this.need(offset, len, what);
    return this.buf.subarray(offset, offset + len);
  }
}
