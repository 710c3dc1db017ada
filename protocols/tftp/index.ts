/**
 * TFTP wire codec: packets (RFC 1350/2347), option negotiation (RFC 2348/2349/7440) and
 * netascii. Bytes in, bytes out; no sockets, no files.
 */
export {
  Opcode,
  ErrorCode,
  ERROR_CODE_NAMES,
  TftpDecodeError,
  decodeTftp,
  encodeTftp,
  encodeError,
  peekOpcode,
  ackBlock,
  writeDataHeader,
} from './packet.js';
export type {
  OpcodeName,
  ErrorCodeValue,
  TftpOption,
  TftpPacket,
  RequestPacket,
  DataPacket,
  AckPacket,
  ErrorPacket,
  OackPacket,
  TftpDecodeErrorKind,
} from './packet.js';
export {
  negotiateOptions,
  DEFAULT_BLKSIZE,
  MIN_BLKSIZE,
  MAX_BLKSIZE,
  MIN_TIMEOUT,
  MAX_TIMEOUT,
  MAX_WINDOWSIZE,
  DEFAULT_MAX_WINDOW_BYTES,
} from './options.js';
export type { OptionLimits, Negotiated } from './options.js';
export { NetasciiEncoder, toNetascii } from './netascii.js';
