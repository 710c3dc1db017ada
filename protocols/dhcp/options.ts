/**
 * Typed views of the options a netboot server reads (RFC 2132, RFC 3004, RFC 3046,
 * RFC 4578, PXE 2.1, iPXE). Every accessor returns undefined when the option is absent
 * or its value is malformed; the raw bytes stay in packet.options either way.
 */
import { HEX_BYTE, getOption, ipToBytes, ipToString, type DhcpPacket } from './packet.js';
import { parsePxeOptions, type PxeOptions } from './pxe.js';
import { parseIpxeOptions, type IpxeOptions } from './ipxe.js';
import { parseSubOptions, type SubOption } from './tlv.js';

export const OPT = {
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  ROOT_PATH: 17,
  BROADCAST: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAMETER_REQUEST_LIST: 55,
  MAX_MESSAGE_SIZE: 57,
  VENDOR_CLASS: 60,
  CLIENT_ID: 61,
  TFTP_SERVER: 66,
  BOOTFILE: 67,
  USER_CLASS: 77,
  RELAY_AGENT: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_GUID: 97,
  IPXE: 175,
} as const;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

const MESSAGE_TYPES: Record<number, string> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
  9: 'FORCERENEW',
  10: 'LEASEQUERY',
  11: 'LEASEUNASSIGNED',
  12: 'LEASEUNKNOWN',
  13: 'LEASEACTIVE',
};

export function messageTypeName(t: number | undefined): string {
  return t === undefined ? 'BOOTP' : (MESSAGE_TYPES[t] ?? `TYPE${t}`);
}

// --------------------------------------------------------------------- value readers

const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

/** Text option; a trailing NUL (some firmware sends one) is not part of the text. */
export function readString(b: Uint8Array | undefined): string | undefined {
  if (!b) return undefined;
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return latin1(b.subarray(0, n));
}

export function readIp(b: Uint8Array | undefined): string | undefined {
  return b && b.length === 4 ? ipToString(b) : undefined;
}

export function readIps(b: Uint8Array | undefined): string[] | undefined {
  if (!b || b.length === 0 || b.length % 4 !== 0) return undefined;
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) out.push(ipToString(b, i));
  return out;
}

export function readU8(b: Uint8Array | undefined): number | undefined {
  return b && b.length === 1 ? b[0] : undefined;
}

export function readU16(b: Uint8Array | undefined): number | undefined {
  return b && b.length === 2 ? (b[0]! << 8) | b[1]! : undefined;
}

export function readU32(b: Uint8Array | undefined): number | undefined {
  return b && b.length === 4 ? ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0 : undefined;
}

export function hex(b: Uint8Array): string {
  if (b.length > 64) return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX_BYTE[b[i]!];
  return s;
}

// --------------------------------------------------------------------- value writers

export const encode = {
  u8: (v: number) => Uint8Array.of(v & 0xff),
  u16: (v: number) => Uint8Array.of((v >> 8) & 0xff, v & 0xff),
  u32: (v: number) => Uint8Array.of((v >>> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff),
  ip: (ip: string) => ipToBytes(ip),
  ips: (ips: string[]) => Uint8Array.from(ips.flatMap((ip) => [...ipToBytes(ip)])),
  string: (s: string) => new Uint8Array(Buffer.from(s, 'latin1')),
};

// --------------------------------------------------------------------- structured options

export interface ClientId {
  type: number;
  /** Hex of the identifier bytes after the type. */
  id: string;
  /** Set when type is 1 (Ethernet) with a 6-byte address. */
  mac?: string;
}

export interface UserClass {
  /** RFC 3004: a list of length-prefixed class strings; 'plain': one string (iPXE sends "iPXE"). */
  format: 'rfc3004' | 'plain';
  classes: string[];
}

export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

export interface RelayAgentInfo {
  /** Sub-option 1, hex. */
  circuitId?: string;
  /** Sub-option 2, hex. */
  remoteId?: string;
  raw: SubOption[];
}

/**
 * Option 77. RFC 3004 (length-prefixed instances) when the bytes parse exactly that way,
 * else iPXE's plain string: "iPXE" = 69 50 58 45 cannot be read as RFC 3004 (0x69 > 3).
 */
export function parseUserClass(b: Uint8Array): UserClass {
  const classes: string[] = [];
  let i = 0;
  while (i < b.length) {
    const len = b[i]!;
    if (len === 0 || i + 1 + len > b.length) return { format: 'plain', classes: [readString(b)!] };
    classes.push(latin1(b.subarray(i + 1, i + 1 + len)));
    i += 1 + len;
  }
  return classes.length ? { format: 'rfc3004', classes } : { format: 'plain', classes: [''] };
}

/**
 * Option 97 (RFC 4578 §2.5): type 0 + 16-byte GUID. Printed in the order the bytes are on
 * the wire (no SMBIOS byte swapping), as 8-4-4-4-12 hex.
 */
export function parseGuid(b: Uint8Array): string | undefined {
  if (b.length !== 17 || b[0] !== 0) return undefined;
  const h = hex(b.subarray(1));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Option 94 (RFC 4578 §2.2): type 1, UNDI major, minor. */
export function parseClientNdi(b: Uint8Array): ClientNdi | undefined {
  return b.length === 3 ? { type: b[0]!, major: b[1]!, minor: b[2]! } : undefined;
}

/** Option 55: the option codes, as numbers (a loop: Array.from on bytes is ~20× slower). */
export function readCodes(b: Uint8Array): number[] {
  const out = new Array<number>(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b[i]!;
  return out;
}

export function parseClientId(b: Uint8Array): ClientId | undefined {
  if (b.length < 2) return undefined;
  const id: ClientId = { type: b[0]!, id: hex(b.subarray(1)) };
  if (b[0] === 1 && b.length === 7) id.mac = [...b.subarray(1)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return id;
}

export function parseRelayAgent(b: Uint8Array): RelayAgentInfo | undefined {
  const raw = parseSubOptions(b, false);
  if (!raw) return undefined;
  const out: RelayAgentInfo = { raw };
  for (const s of raw) {
    if (s.code === 1) out.circuitId = hex(s.data);
    if (s.code === 2) out.remoteId = hex(s.data);
  }
  return out;
}

/** Option 93: the list of 16-bit arch codes. */
export function readArchs(b: Uint8Array | undefined): number[] | undefined {
  if (!b || b.length === 0 || b.length % 2 !== 0) return undefined;
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push((b[i]! << 8) | b[i + 1]!);
  return out;
}

/** Every option a netboot server reads, decoded. */
export interface TypedOptions {
  subnetMask?: string;
  routers?: string[];
  dnsServers?: string[];
  hostname?: string;
  domainName?: string;
  rootPath?: string;
  broadcast?: string;
  /** 43 as PXE sub-options (only meaningful for PXEClient/HTTPClient vendor classes). */
  pxe?: PxeOptions;
  requestedIp?: string;
  leaseTime?: number;
  overload?: number;
  messageType?: number;
  serverId?: string;
  parameterRequestList?: number[];
  maxMessageSize?: number;
  vendorClass?: string;
  clientId?: ClientId;
  tftpServer?: string;
  bootfile?: string;
  userClass?: UserClass;
  relayAgent?: RelayAgentInfo;
  /** 93: one or more arch codes. */
  clientArch?: number[];
  clientNdi?: ClientNdi;
  /** 97 */
  guid?: string;
  ipxe?: IpxeOptions;
}

function opt<T>(p: Pick<DhcpPacket, 'options'>, code: number, f: (b: Uint8Array) => T | undefined): T | undefined {
  const b = getOption(p, code);
  return b ? f(b) : undefined;
}

/** Decodes the typed options of a packet (absent or malformed ones are left out). */
export function typedOptions(p: Pick<DhcpPacket, 'options'>): TypedOptions {
  const t: TypedOptions = {
    subnetMask: readIp(getOption(p, OPT.SUBNET_MASK)),
    routers: readIps(getOption(p, OPT.ROUTER)),
    dnsServers: readIps(getOption(p, OPT.DNS_SERVERS)),
    hostname: readString(getOption(p, OPT.HOSTNAME)),
    domainName: readString(getOption(p, OPT.DOMAIN_NAME)),
    rootPath: readString(getOption(p, OPT.ROOT_PATH)),
    broadcast: readIp(getOption(p, OPT.BROADCAST)),
    pxe: opt(p, OPT.VENDOR_SPECIFIC, parsePxeOptions),
    requestedIp: readIp(getOption(p, OPT.REQUESTED_IP)),
    leaseTime: readU32(getOption(p, OPT.LEASE_TIME)),
    overload: readU8(getOption(p, OPT.OVERLOAD)),
    messageType: readU8(getOption(p, OPT.MESSAGE_TYPE)),
    serverId: readIp(getOption(p, OPT.SERVER_ID)),
    parameterRequestList: opt(p, OPT.PARAMETER_REQUEST_LIST, readCodes),
    maxMessageSize: readU16(getOption(p, OPT.MAX_MESSAGE_SIZE)),
    vendorClass: readString(getOption(p, OPT.VENDOR_CLASS)),
    clientId: opt(p, OPT.CLIENT_ID, parseClientId),
    tftpServer: readString(getOption(p, OPT.TFTP_SERVER)),
    bootfile: readString(getOption(p, OPT.BOOTFILE)),
    userClass: opt(p, OPT.USER_CLASS, parseUserClass),
    relayAgent: opt(p, OPT.RELAY_AGENT, parseRelayAgent),
    clientArch: readArchs(getOption(p, OPT.CLIENT_ARCH)),
    clientNdi: opt(p, OPT.CLIENT_NDI, parseClientNdi),
    guid: opt(p, OPT.CLIENT_GUID, parseGuid),
    ipxe: opt(p, OPT.IPXE, parseIpxeOptions),
  };
  return withoutUndefined(t);
}

/**
 * A copy without the undefined fields, keys in the same order. (Copying instead of `delete`
 * keeps V8's fast object layout; these objects are built for every packet.)
 */
export function withoutUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const k in o) if (o[k] !== undefined) out[k] = o[k];
  return out as T;
}
