/**
 * The one error type the capture reader throws. Anything wrong with the bytes of a capture
 * file (bad magic, a block or record running past the end, an impossible length) ends up as a
 * PcapError with a code and the byte offset where reading stopped, never as a RangeError or
 * TypeError from Buffer access.
 */
export type PcapErrorCode =
  | 'bad-magic' // neither classic pcap nor pcapng
  | 'truncated' // a header, block or record runs past the end of the buffer
  | 'bad-length' // a length field that cannot be right (too small, not a multiple of 4, ...)
  | 'bad-block' // pcapng structure violated (no SHB first, unknown interface id, ...)
  | 'unsupported'; // valid file, but a version we do not read

export class PcapError extends Error {
  override readonly name = 'PcapError';
  constructor(
    readonly code: PcapErrorCode,
    message: string,
    /** Byte offset in the capture file where the problem was found. */
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
  }
}
