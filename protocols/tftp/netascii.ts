/**
 * Netascii encoding for sending (RFC 1350 via RFC 764): LF becomes CR LF and a bare CR becomes
 * CR NUL. Streaming and pure: it converts between caller-owned buffers, carrying the second byte
 * of a pair across calls when the output fills up, so a file never has to be read whole.
 */
export class NetasciiEncoder {
  /** Second byte of a CR LF / CR NUL pair not yet written, or -1. */
  private pending = -1;

  /** True when a pair's second byte still waits for output space. */
  get hasPending(): boolean {
    return this.pending >= 0;
  }

  /**
   * Converts src[srcStart..srcEnd) into dst[dstStart..dstEnd). Returns how many source bytes
   * were consumed and how many output bytes were written.
   */
  encode(src: Uint8Array, srcStart: number, srcEnd: number, dst: Uint8Array, dstStart: number, dstEnd: number): { read: number; written: number } {
    let s = srcStart;
    let d = dstStart;
    if (this.pending >= 0 && d < dstEnd) {
      dst[d++] = this.pending;
      this.pending = -1;
    }
    while (s < srcEnd && d < dstEnd && this.pending < 0) {
      const c = src[s++]!;
      if (c === 0x0a || c === 0x0d) {
        dst[d++] = 0x0d;
        const second = c === 0x0a ? 0x0a : 0x00;
        if (d < dstEnd) dst[d++] = second;
        else this.pending = second;
      } else {
        dst[d++] = c;
      }
    }
    return { read: s - srcStart, written: d - dstStart };
  }
}

/** Whole-buffer convenience (tests, small inputs). */
export function toNetascii(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length * 2);
  const { written } = new NetasciiEncoder().encode(src, 0, src.length, out, 0, out.length);
  return out.subarray(0, written);
}
