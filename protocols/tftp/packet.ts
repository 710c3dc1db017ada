/**
 * TFTP packets (RFC 1350, options RFC 2347), decoded from and encoded to bytes. Pure: no I/O.
 *
 * Strings (file name, mode, option names and values, error text) are decoded as latin1, so
 * each byte maps to one UTF-16 code unit and re-encoding gives the same bytes back. Whether a
 * file name is valid UTF-8 is the server's business, not the codec's.
 */

export const Opcode = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;
export type OpcodeName = keyof typeof Opcode;
const OPCODE_NAMES: readonly (OpcodeName | undefined)[] = [undefined, 'RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'];

/** RFC 1350 error codes, plus 8 (option negotiation refused) from RFC 2347. */
export const ErrorCode = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'not defined',
  1: 'file not found',
  2: 'access violation',
  3: 'disk full',
  4: 'illegal operation',
  5: 'unknown transfer ID',
  6: 'file already exists',
  7: 'no such user',
  8: 'option negotiation refused',
};

/** One option as sent: the name keeps the sender's spelling (RFC 2347 names are case-insensitive). */
export interface TftpOption {
  name: string;
  value: string;
}

export interface RequestPacket {
  opcode: 'RRQ' | 'WRQ';
  filename: string;
  /** As sent (RFC 1350 modes are case-insensitive: compare lowercased). */
  mode: string;
  options: TftpOption[];
}
export interface DataPacket {
  opcode: 'DATA';
  block: number;
  data: Uint8Array;
}
export interface AckPacket {
  opcode: 'ACK';
  block: number;
}
export interface ErrorPacket {
  opcode: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  opcode: 'OACK';
  options: TftpOption[];
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type TftpDecodeErrorKind =
  | 'truncated'
  | 'unknown-opcode'
  | 'unterminated-string'
  | 'option-without-value';

/** The only exception decodeTftp throws: the bytes are not a TFTP packet. */
export class TftpDecodeError extends Error {
  override readonly name = 'TftpDecodeError';
  constructor(
    readonly kind: TftpDecodeErrorKind,
    message: string,
    /** Byte offset where decoding stopped. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Opcode of a datagram without decoding the rest (0 when shorter than 2 bytes). */
export function peekOpcode(buf: Uint8Array): number {
  return buf.length >= 2 ? (buf[0]! << 8) | buf[1]! : 0;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  // String.fromCharCode over a subarray is lossless for bytes and avoids a Buffer dependency.
  let s = '';
  for (let i = start; i < end; i += 4096) {
    s += String.fromCharCode.apply(null, Array.from(buf.subarray(i, Math.min(end, i + 4096))));
  }
  return s;
}

/** Reads a NUL-terminated string at `off`; returns it and the offset after the NUL. */
function cstring(buf: Uint8Array, off: number, what: string): [string, number] {
  const nul = buf.indexOf(0, off);
  if (nul < 0) throw new TftpDecodeError('unterminated-string', `${what} at byte ${off} has no terminating NUL`, off);
  return [latin1(buf, off, nul), nul + 1];
}

function allZero(buf: Uint8Array, off: number): boolean {
  for (let i = off; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Option pairs after a request's mode, or in an OACK. Trailing NUL padding is tolerated
 * (some PXE ROMs pad their RRQ); an option name with no value is an error.
 */
function decodeOptions(buf: Uint8Array, off: number): TftpOption[] {
  const options: TftpOption[] = [];
  while (off < buf.length && !allZero(buf, off)) {
    const [name, afterName] = cstring(buf, off, 'option name');
    if (afterName >= buf.length) {
      throw new TftpDecodeError('option-without-value', `option '${name}' has no value`, afterName);
    }
    const [value, afterValue] = cstring(buf, afterName, `value of option '${name}'`);
    options.push({ name, value });
    off = afterValue;
  }
  return options;
}

/** Decodes one TFTP datagram. Throws TftpDecodeError (and nothing else) on bad bytes. */
export function decodeTftp(buf: Uint8Array): TftpPacket {
  if (buf.length < 2) throw new TftpDecodeError('truncated', `${buf.length}-byte datagram has no opcode`, 0);
  const op = peekOpcode(buf);
  const name = OPCODE_NAMES[op];
  if (name === undefined) throw new TftpDecodeError('unknown-opcode', `unknown opcode ${op}`, 0);
  switch (name) {
    case 'RRQ':
    case 'WRQ': {
      const [filename, afterName] = cstring(buf, 2, 'file name');
      const [mode, afterMode] = cstring(buf, afterName, 'mode');
      return { opcode: name, filename, mode, options: decodeOptions(buf, afterMode) };
    }
    case 'DATA':
      if (buf.length < 4) throw new TftpDecodeError('truncated', `DATA of ${buf.length} bytes has no block number`, 2);
      return { opcode: 'DATA', block: (buf[2]! << 8) | buf[3]!, data: buf.subarray(4) };
    case 'ACK':
      // RFC 1350 ACKs are exactly 4 bytes; extra trailing bytes are ignored, not fatal.
      if (buf.length < 4) throw new TftpDecodeError('truncated', `ACK of ${buf.length} bytes has no block number`, 2);
      return { opcode: 'ACK', block: (buf[2]! << 8) | buf[3]! };
    case 'ERROR': {
      if (buf.length < 4) throw new TftpDecodeError('truncated', `ERROR of ${buf.length} bytes has no error code`, 2);
      const code = (buf[2]! << 8) | buf[3]!;
      // A missing terminating NUL is tolerated: the error still has to end the transfer.
      const nul = buf.indexOf(0, 4);
      return { opcode: 'ERROR', code, message: latin1(buf, 4, nul < 0 ? buf.length : nul) };
    }
    case 'OACK':
      return { opcode: 'OACK', options: decodeOptions(buf, 2) };
  }
}

function latin1Bytes(s: string): number[] {
  const out = new Array<number>(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

function strings(op: number, head: number[], parts: string[]): Uint8Array {
  const bytes: number[] = [op >> 8, op & 0xff, ...head];
  for (const p of parts) bytes.push(...latin1Bytes(p), 0);
  return Uint8Array.from(bytes);
}

/** Encodes any packet. Strings are written as latin1 (code units above 255 are truncated to a byte). */
export function encodeTftp(p: TftpPacket): Uint8Array {
  switch (p.opcode) {
    case 'RRQ':
    case 'WRQ':
      return strings(Opcode[p.opcode], [], [p.filename, p.mode, ...p.options.flatMap((o) => [o.name, o.value])]);
    case 'OACK':
      return strings(Opcode.OACK, [], p.options.flatMap((o) => [o.name, o.value]));
    case 'ERROR':
      return strings(Opcode.ERROR, [(p.code >> 8) & 0xff, p.code & 0xff], [p.message]);
    case 'ACK':
      return Uint8Array.of(0, Opcode.ACK, (p.block >> 8) & 0xff, p.block & 0xff);
    case 'DATA': {
      const out = new Uint8Array(4 + p.data.length);
      writeDataHeader(out, p.block);
      out.set(p.data, 4);
      return out;
    }
  }
}

/** Writes a DATA header (opcode 3 + block mod 65536) at `off` of a preallocated buffer. */
export function writeDataHeader(buf: Uint8Array, block: number, off = 0): void {
  buf[off] = 0;
  buf[off + 1] = Opcode.DATA;
  buf[off + 2] = (block >> 8) & 0xff;
  buf[off + 3] = block & 0xff;
}

/** Block number of an ACK datagram, or -1 when the datagram is not an ACK (hot path: no allocation). */
export function ackBlock(buf: Uint8Array): number {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== Opcode.ACK) return -1;
  return (buf[2]! << 8) | buf[3]!;
}

export function encodeError(code: number, message: string): Uint8Array {
  return encodeTftp({ opcode: 'ERROR', code, message });
}
