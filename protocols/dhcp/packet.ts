/**
 * DHCPv4 / BOOTP packet codec (RFC 2131 §2, RFC 2132, RFC 3396).
 *
 * decodeDhcp() turns a UDP payload into a DhcpPacket: the fixed BOOTP header as plain
 * fields and the options as a list of {code, data} in order of first appearance. Every
 * instance of a code is concatenated into one value (RFC 3396 "long options"), also
 * across the file/sname fields when option 52 (overload) says they carry options.
 *
 * The decoder also records the packet's wire layout (PAD runs, how a long option was
 * split, END, bytes after END, the raw sname/file fields) so that encodeDhcp() of an
 * unmodified decoded packet gives back the input byte for byte. When the options were
 * changed so that the layout no longer matches, encodeDhcp() falls back to the canonical
 * form: options in list order, split at 255 bytes, END, zero padding to `minSize`.
 */
import { DhcpDecodeError, DhcpEncodeError } from './errors.js';

/** 99.130.83.99, RFC 2131 §3 */
export const MAGIC_COOKIE = 0x63825363;
/** op(1) htype(1) hlen(1) hops(1) xid(4) secs(2) flags(2) 4×addr(16) chaddr(16) sname(64) file(128) */
export const BOOTP_HEADER_SIZE = 236;
export const DHCP_MIN_SIZE = BOOTP_HEADER_SIZE + 4;
/** Largest UDP payload over IPv4. */
export const DHCP_MAX_SIZE = 65507;
/** RFC 1542 §3.4: BOOTP packets are at least 300 bytes; most servers pad replies to it. */
export const BOOTP_MIN_SIZE = 300;

export const OPT_PAD = 0;
export const OPT_END = 255;
export const OPT_OVERLOAD = 52;

const SNAME_OFFSET = 44;
const SNAME_SIZE = 64;
const FILE_OFFSET = 108;
const FILE_SIZE = 128;
const OPTIONS_OFFSET = 240;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** flags: RFC 2131 §2, the broadcast bit */
export const FLAG_BROADCAST = 0x8000;

export interface DhcpOption {
  code: number;
  /** The option's value (all instances of the code concatenated, RFC 3396). */
  data: Uint8Array;
}

/** One element of an option area as it was on the wire. */
export interface WireItem {
  /** 0 = a run of PAD bytes (len = run length), 255 = END (len 0), else a fragment of `code`. */
  code: number;
  len: number;
}

export interface WireArea {
  items: WireItem[];
  /** Bytes after END, up to the end of the area (padding, garbage: kept as is). */
  trailing: Uint8Array;
}

/** What decodeDhcp saw beyond the values; lets encodeDhcp reproduce the input exactly. */
export interface WireLayout {
  options: WireArea;
  /** Present when option 52 made the file field carry options. */
  file?: WireArea;
  /** Present when option 52 made the sname field carry options. */
  sname?: WireArea;
  fileRaw: Uint8Array;
  snameRaw: Uint8Array;
}

export interface DhcpPacket {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY */
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** The full 16-byte chaddr field. */
  chaddr: Uint8Array;
  /** Server host name field as text (up to the first NUL); '' when overloaded. */
  sname: string;
  /** Boot file name field as text (up to the first NUL); '' when overloaded. */
  file: string;
  options: DhcpOption[];
  /** Set by decodeDhcp; drop it (or leave it) when building a new packet. */
  wire?: WireLayout;
}

// ---------------------------------------------------------------------------- helpers

export function ipToString(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** Dotted quad → 4 bytes; throws DhcpEncodeError on anything else. */
export function ipToBytes(ip: string): Uint8Array {
  const out = new Uint8Array(4);
  writeIp(out, 0, ip);
  return out;
}

/**
 * Writes a dotted quad (four groups of 1–3 decimal digits, each ≤ 255) at `off`, parsed by
 * hand: this runs four times per encoded packet.
 */
function writeIp(out: Uint8Array, off: number, ip: string): void {
  let part = 0;
  let digits = 0;
  let n = 0;
  for (let i = 0; i <= ip.length; i++) {
    const c = i < ip.length ? ip.charCodeAt(i) : 46; // the end closes the last group like a '.'
    if (c === 46) {
      if (digits === 0 || n > 255 || part > 3) throw new DhcpEncodeError(`not an IPv4 address: '${ip}'`);
      out[off + part++] = n;
      n = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      n = n * 10 + (c - 48);
      digits++;
    } else {
      throw new DhcpEncodeError(`not an IPv4 address: '${ip}'`);
    }
  }
  if (part !== 4) throw new DhcpEncodeError(`not an IPv4 address: '${ip}'`);
}

/** Bytes up to the first NUL, as latin1 (one char per byte, lossless). */
export function fieldText(b: Uint8Array): string {
  const nul = b.indexOf(0);
  if (nul === 0) return ''; // the usual case in requests: no Buffer for it
  return Buffer.from(b.buffer, b.byteOffset, nul < 0 ? b.length : nul).toString('latin1');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Two lower-case hex digits per byte value. */
export const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** "aa:bb:cc:dd:ee:ff" from the first `hlen` bytes of chaddr (capped at 16). */
export function macOf(p: Pick<DhcpPacket, 'chaddr' | 'hlen'>): string {
  const n = Math.min(p.hlen, 16, p.chaddr.length);
  let s = n > 0 ? HEX_BYTE[p.chaddr[0]!]! : '';
  for (let i = 1; i < n; i++) s += `:${HEX_BYTE[p.chaddr[i]!]}`;
  return s;
}

export function getOption(p: Pick<DhcpPacket, 'options'>, code: number): Uint8Array | undefined {
  for (const o of p.options) if (o.code === code) return o.data;
  return undefined;
}

/** Sets (replacing in place, or appending) an option value. */
export function setOption(p: Pick<DhcpPacket, 'options'>, code: number, data: Uint8Array): void {
  const o = p.options.find((x) => x.code === code);
  if (o) o.data = data;
  else p.options.push({ code, data });
}

// ---------------------------------------------------------------------------- decode

/** Per code: its one fragment (the usual case: no array for it), or every fragment in order (RFC 3396). */
type Chunks = Map<number, Uint8Array | Uint8Array[]>;

/**
 * Walks one option area [start, end). END is required in the options field; in an
 * overloaded sname/file field the options may also run to the field's end.
 */
function parseArea(buf: Uint8Array, start: number, end: number, what: string, endRequired: boolean, chunks: Chunks): WireArea {
  const items: WireItem[] = [];
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT_PAD) {
      const last = items[items.length - 1];
      if (last && last.code === OPT_PAD) last.len++;
      else items.push({ code: OPT_PAD, len: 1 });
      i++;
      continue;
    }
    if (code === OPT_END) {
      items.push({ code: OPT_END, len: 0 });
      return { items, trailing: buf.slice(i + 1, end) };
    }
    if (i + 1 >= end) {
      throw new DhcpDecodeError('truncated', `${what}: option ${code} at offset ${i} has no length byte`, i);
    }
    const len = buf[i + 1]!;
    if (i + 2 + len > end) {
      throw new DhcpDecodeError(
        'bad-option-length',
        `${what}: option ${code} at offset ${i} claims ${len} bytes, only ${end - i - 2} left`,
        i,
      );
    }
    items.push({ code, len });
    const frag = buf.subarray(i + 2, i + 2 + len);
    const had = chunks.get(code);
    if (had === undefined) chunks.set(code, frag);
    else if (Array.isArray(had)) had.push(frag);
    else chunks.set(code, [had, frag]);
    i += 2 + len;
  }
  if (endRequired) throw new DhcpDecodeError('no-end', `${what}: no END option (255)`, end);
  return { items, trailing: new Uint8Array(0) };
}

function concat(parts: Uint8Array | Uint8Array[]): Uint8Array {
  if (!Array.isArray(parts)) return parts.slice();
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function optionList(chunks: Chunks): DhcpOption[] {
  const out: DhcpOption[] = [];
  for (const [code, parts] of chunks) out.push({ code, data: concat(parts) });
  return out;
}

/** Decodes a DHCP/BOOTP UDP payload. Throws only DhcpDecodeError. */
export function decodeDhcp(input: Uint8Array): DhcpPacket {
  if (!(input instanceof Uint8Array)) throw new DhcpDecodeError('truncated', 'not a byte array');
  if (input.length < DHCP_MIN_SIZE) {
    throw new DhcpDecodeError('truncated', `packet is ${input.length} bytes, a DHCP packet has at least ${DHCP_MIN_SIZE}`, input.length);
  }
  if (input.length > DHCP_MAX_SIZE) {
    throw new DhcpDecodeError('overlong', `packet is ${input.length} bytes, more than a UDP datagram can hold`, DHCP_MAX_SIZE);
  }
  const buf = input;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(236) !== MAGIC_COOKIE) {
    throw new DhcpDecodeError('bad-magic', `bad magic cookie 0x${dv.getUint32(236).toString(16).padStart(8, '0')} (BOOTP without DHCP options?)`, 236);
  }
  const chunks: Chunks = new Map();
  const options = parseArea(buf, OPTIONS_OFFSET, buf.length, 'options', true, chunks);

  // RFC 2131 §4.1: option 52 says whether file (1), sname (2) or both (3) hold options;
  // RFC 3396 §5: file is processed before sname.
  const snameRaw = buf.slice(SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE);
  const fileRaw = buf.slice(FILE_OFFSET, FILE_OFFSET + FILE_SIZE);
  const wire: WireLayout = { options, snameRaw, fileRaw };
  const ov = chunks.get(OPT_OVERLOAD);
  let overload = 0;
  if (ov) {
    const v = concat(ov);
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) {
      throw new DhcpDecodeError('bad-overload', `option 52 (overload) must be one byte 1..3, got ${v.length} byte(s)`, OPTIONS_OFFSET);
    }
    overload = v[0]!;
    if (overload & 1) wire.file = parseArea(buf, FILE_OFFSET, FILE_OFFSET + FILE_SIZE, 'file field', false, chunks);
    if (overload & 2) wire.sname = parseArea(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE, 'sname field', false, chunks);
  }

  return {
    op: buf[0]!,
    htype: buf[1]!,
    hlen: buf[2]!,
    hops: buf[3]!,
    xid: dv.getUint32(4),
    secs: dv.getUint16(8),
    flags: dv.getUint16(10),
    ciaddr: ipToString(buf, 12),
    yiaddr: ipToString(buf, 16),
    siaddr: ipToString(buf, 20),
    giaddr: ipToString(buf, 24),
    chaddr: buf.slice(28, 44),
    sname: overload & 2 ? '' : fieldText(snameRaw),
    file: overload & 1 ? '' : fieldText(fileRaw),
    options: optionList(chunks),
    wire,
  };
}

// ---------------------------------------------------------------------------- encode

export interface EncodeOptions {
  /** Canonical form only: pad the packet with zeros to at least this size (default 300). */
  minSize?: number;
  /**
   * Canonical form only: the largest packet the peer accepts (option 57, default 576 per
   * RFC 2131 §2). Options that do not fit the options field go into an empty file and
   * then sname field, announced by option 52 (RFC 2131 §4.1).
   */
  maxSize?: number;
  /** Ignore the decoded wire layout and write the canonical form. */
  canonical?: boolean;
}

function writeHeader(p: DhcpPacket, out: Uint8Array): void {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const u8 = (v: number, what: string) => {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new DhcpEncodeError(`${what} must be 0..255, got ${v}`);
    return v;
  };
  out[0] = u8(p.op, 'op');
  out[1] = u8(p.htype, 'htype');
  out[2] = u8(p.hlen, 'hlen');
  out[3] = u8(p.hops, 'hops');
  dv.setUint32(4, p.xid >>> 0);
  dv.setUint16(8, p.secs & 0xffff);
  dv.setUint16(10, p.flags & 0xffff);
  writeIp(out, 12, p.ciaddr);
  writeIp(out, 16, p.yiaddr);
  writeIp(out, 20, p.siaddr);
  writeIp(out, 24, p.giaddr);
  if (p.chaddr.length > 16) throw new DhcpEncodeError(`chaddr is ${p.chaddr.length} bytes, the field holds 16`);
  out.set(p.chaddr, 28);
  dv.setUint32(236, MAGIC_COOKIE);
}

function textField(s: string, size: number, what: string): Uint8Array {
  const out = new Uint8Array(size);
  writeText(out, 0, s, size, what);
  return out;
}

/** `s` as latin1 (one byte per char, its low 8 bits, as Buffer's 'latin1') at `off`; the rest of the field stays zero. */
function writeText(out: Uint8Array, off: number, s: string, size: number, what: string): void {
  if (s.length > size) throw new DhcpEncodeError(`${what} '${s}' is longer than ${size} bytes`);
  for (let i = 0; i < s.length; i++) out[off + i] = s.charCodeAt(i) & 0xff;
}

/** The decoded layout still describes these options exactly (same codes, same lengths)? */
function layoutFits(p: DhcpPacket, w: WireLayout): boolean {
  const lens = new Map<number, number>();
  for (const area of [w.options, w.file, w.sname]) {
    if (!area) continue;
    for (const it of area.items) {
      if (it.code !== OPT_PAD && it.code !== OPT_END) lens.set(it.code, (lens.get(it.code) ?? 0) + it.len);
    }
  }
  if (lens.size !== p.options.length) return false;
  for (const o of p.options) if (lens.get(o.code) !== o.data.length) return false;
  // Overloaded fields carry options: the text fields must then be empty.
  if (w.file && p.file !== '') return false;
  if (w.sname && p.sname !== '') return false;
  return true;
}

function encodeWithLayout(p: DhcpPacket, w: WireLayout): Uint8Array {
  let size = OPTIONS_OFFSET + w.options.trailing.length;
  for (const it of w.options.items) size += it.code === OPT_PAD ? it.len : it.code === OPT_END ? 1 : 2 + it.len;
  const out = new Uint8Array(size);
  writeHeader(p, out);
  const data = new Map(p.options.map((o) => [o.code, o.data]));
  const used = new Map<number, number>();
  const writeArea = (area: WireArea, start: number): void => {
    let i = start;
    for (const it of area.items) {
      if (it.code === OPT_PAD) {
        i += it.len; // zeros already
      } else if (it.code === OPT_END) {
        out[i++] = OPT_END;
      } else {
        const off = used.get(it.code) ?? 0;
        out[i] = it.code;
        out[i + 1] = it.len;
        out.set(data.get(it.code)!.subarray(off, off + it.len), i + 2);
        used.set(it.code, off + it.len);
        i += 2 + it.len;
      }
    }
    out.set(area.trailing, i);
  };
  // RFC 3396 order of concatenation: options field, then file, then sname.
  writeArea(w.options, OPTIONS_OFFSET);
  if (w.file) writeArea(w.file, FILE_OFFSET);
  else out.set(fieldText(w.fileRaw) === p.file ? w.fileRaw : textField(p.file, FILE_SIZE, 'file'), FILE_OFFSET);
  if (w.sname) writeArea(w.sname, SNAME_OFFSET);
  else out.set(fieldText(w.snameRaw) === p.sname ? w.snameRaw : textField(p.sname, SNAME_SIZE, 'sname'), SNAME_OFFSET);
  return out;
}

interface Area {
  start: number;
  end: number;
  pos: number;
}

function encodeCanonical(p: DhcpPacket, opts: EncodeOptions): Uint8Array {
  const minSize = opts.minSize ?? BOOTP_MIN_SIZE;
  const maxSize = Math.max(opts.maxSize ?? DHCP_MAX_SIZE, DHCP_MIN_SIZE + 64);
  const list = p.options.filter((o) => o.code !== OPT_PAD && o.code !== OPT_END && o.code !== OPT_OVERLOAD);
  for (const o of p.options) {
    if (o.code === OPT_PAD || o.code === OPT_END || !Number.isInteger(o.code) || o.code < 0 || o.code > 255) {
      throw new DhcpEncodeError(`option code ${o.code} cannot carry a value`);
    }
  }
  let need = 0;
  for (const o of list) need += o.data.length + 2 * Math.max(1, Math.ceil(o.data.length / 255));
  const mainCap = maxSize - OPTIONS_OFFSET;

  const areas: Area[] = [];
  let overload = 0;
  if (need + 1 <= mainCap) {
    areas.push({ start: OPTIONS_OFFSET, end: OPTIONS_OFFSET + need + 1, pos: OPTIONS_OFFSET });
  } else {
    // Does not fit: borrow the file and sname fields when they are unused (RFC 2131 §4.1).
    areas.push({ start: OPTIONS_OFFSET, end: maxSize, pos: OPTIONS_OFFSET + 3 });
    if (p.file === '') {
      overload |= 1;
      areas.push({ start: FILE_OFFSET, end: FILE_OFFSET + FILE_SIZE, pos: FILE_OFFSET });
    }
    if (p.sname === '') {
      overload |= 2;
      areas.push({ start: SNAME_OFFSET, end: SNAME_OFFSET + SNAME_SIZE, pos: SNAME_OFFSET });
    }
    if (overload === 0) throw new DhcpEncodeError(`options need ${need} bytes, only ${mainCap - 1} fit in ${maxSize}`);
  }
  const size = Math.max(minSize, areas[0]!.end);
  const out = new Uint8Array(size);
  writeHeader(p, out);
  writeText(out, FILE_OFFSET, p.file, FILE_SIZE, 'file');
  writeText(out, SNAME_OFFSET, p.sname, SNAME_SIZE, 'sname');
  if (overload) out.set([OPT_OVERLOAD, 1, overload], OPTIONS_OFFSET);

  let a = 0;
  for (const o of list) {
    let off = 0;
    do {
      // Room for this fragment's header, one data byte and this area's END.
      while (a < areas.length && areas[a]!.end - areas[a]!.pos < 2 + Math.min(1, o.data.length) + 1) a++;
      const area = areas[a];
      if (!area) throw new DhcpEncodeError(`options do not fit in ${maxSize} bytes even with the file/sname fields`);
      const n = Math.min(255, o.data.length - off, area.end - area.pos - 3);
      out[area.pos] = o.code;
      out[area.pos + 1] = n;
      out.set(n === o.data.length ? o.data : o.data.subarray(off, off + n), area.pos + 2);
      area.pos += 2 + n;
      off += n;
    } while (off < o.data.length);
  }
  for (const area of areas) out[area.pos] = OPT_END;
  return out;
}

/**
 * Encodes a packet. A packet from decodeDhcp whose option codes and value lengths are
 * unchanged is written with its original layout (identical bytes when nothing changed);
 * anything else gets the canonical form.
 */
export function encodeDhcp(p: DhcpPacket, opts: EncodeOptions = {}): Uint8Array {
  if (p.wire && !opts.canonical && layoutFits(p, p.wire)) return encodeWithLayout(p, p.wire);
  return encodeCanonical(p, opts);
}
