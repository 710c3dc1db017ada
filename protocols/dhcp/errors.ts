/**
 * The one error the DHCP decoder throws. Anything the decoder cannot make sense of
 * (truncated header, an option whose length runs past the end, no END option, a bad
 * magic cookie, an overlong datagram) becomes a DhcpDecodeError with the byte offset,
 * so a server can log it and drop the packet.
 */
export type DhcpDecodeErrorKind =
  | 'truncated'
  | 'overlong'
  | 'bad-magic'
  | 'bad-option-length'
  | 'no-end'
  | 'bad-overload';

export class DhcpDecodeError extends Error {
  override readonly name = 'DhcpDecodeError';
  constructor(
    readonly kind: DhcpDecodeErrorKind,
    message: string,
    /** Byte offset in the packet where decoding failed (-1 when not applicable). */
    readonly offset = -1,
  ) {
    super(message);
  }
}

/** Thrown by the encoder when asked to write something that does not fit the format. */
export class DhcpEncodeError extends Error {
  override readonly name = 'DhcpEncodeError';
}
