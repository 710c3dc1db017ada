/**
 * classify(packet) computes, once, every fact the boot decision needs (smee's `NewInfo`
 * idea): who the client is, which firmware, whether it is iPXE and how capable, where it
 * came from. The decision core (src/dhcp/decide.ts) reads only these facts.
 */
import { archInfo } from './arch.js';
import { ipxeCapable, parseIpxeOptions } from './ipxe.js';
import {
  hex, messageTypeName, parseClientNdi, parseGuid, parseRelayAgent, parseUserClass, readArchs, readCodes, readIp, readString, readU16, readU8, OPT,
} from './options.js';
import { macOf, type DhcpPacket } from './packet.js';
import { parsePxeOptions } from './pxe.js';

/** Raspberry Pi Foundation / Raspberry Pi Trading OUIs (LTSP ltsp-dnsmasq.conf, #940). */
export const RASPBERRY_PI_OUIS: readonly string[] = ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', '28:cd:c1', '2c:cf:67', '88:a2:9e', 'd8:3a:dd'];

export interface DhcpFacts {
  op: number;
  /** Option 53 (undefined for BOOTP) and its name (DISCOVER, REQUEST, ..., BOOTP). */
  messageType?: number;
  messageTypeName: string;
  /** chaddr as aa:bb:..., lower case. */
  mac: string;
  xid: number;
  /** "0x1a2b3c4d" */
  xidHex: string;
  /** UDP ports, when the caller knows them. */
  srcPort?: number;
  dstPort?: number;
  ciaddr: string;
  /** Option 60 as text. */
  vendorClass?: string;
  /** Option 60 starts with PXEClient (with or without ":Arch:..."; undionly and iPXE send it plain). */
  isPXE: boolean;
  /** Option 60 starts with HTTPClient (UEFI HTTP Boot). */
  isHTTPClient: boolean;
  /** Option 93 present. */
  hasArch: boolean;
  /** First code of option 93 (undefined without it). */
  arch?: number;
  /** Its short name (bios, efi-x64, http-x64, ...). */
  archName?: string;
  uefi: boolean;
  /** Option 94 "major.minor" (UNDI version), when sent. */
  ndi?: string;
  /** iPXE: option 175 present, or user class "iPXE". */
  ipxe: boolean;
  /** Feature names from option 175 (http, menu, pxe, bzimage, efi, ...). */
  ipxeFeatures: string[];
  ipxeVersion?: string;
  /** LTSP's test: 175 has HTTP and MENU and (PXE and BZIMAGE, or EFI). */
  ipxeCapable: boolean;
  userClass?: string[];
  /** Option 97, wire byte order. */
  guid?: string;
  /** Raw option 97 value as hex, when sent (what a reply echoes). */
  guidOption?: string;
  /** giaddr is not 0.0.0.0: came through a relay agent. */
  relayed: boolean;
  giaddr: string;
  /** Option 82 sub-options 1 and 2, hex. */
  relayCircuitId?: string;
  relayRemoteId?: string;
  /** MAC OUI is one of Raspberry Pi's. */
  raspberryPi: boolean;
  /** Option 43 sub-option 71 (PXE boot server discovery: boot type and layer). */
  bootItem?: { type: number; layer: number };
  requestedParams?: number[];
  hostname?: string;
  /** Option 57 */
  maxMessageSize?: number;
  /** Option 54 the client addressed (REQUEST). */
  serverId?: string;
  /** Option 50 */
  requestedIp?: string;
}

export interface ClassifyContext {
  srcPort?: number;
  dstPort?: number;
}

export function isRaspberryPi(mac: string): boolean {
  const oui = mac.slice(0, 8).toLowerCase();
  return RASPBERRY_PI_OUIS.includes(oui);
}

/**
 * The options classify() reads, found in one pass over the list (first instance of a code,
 * as getOption() finds it); each is decoded with the same reader typedOptions() uses.
 */
interface ReadOptions {
  o12?: Uint8Array;
  o43?: Uint8Array;
  o50?: Uint8Array;
  o53?: Uint8Array;
  o54?: Uint8Array;
  o55?: Uint8Array;
  o57?: Uint8Array;
  o60?: Uint8Array;
  o77?: Uint8Array;
  o82?: Uint8Array;
  o93?: Uint8Array;
  o94?: Uint8Array;
  o97?: Uint8Array;
  o175?: Uint8Array;
}

function readOptions(p: Pick<DhcpPacket, 'options'>): ReadOptions {
  const r: ReadOptions = {};
  for (const o of p.options) {
    const d = o.data;
    switch (o.code) {
      case OPT.HOSTNAME: r.o12 ??= d; break;
      case OPT.VENDOR_SPECIFIC: r.o43 ??= d; break;
      case OPT.REQUESTED_IP: r.o50 ??= d; break;
      case OPT.MESSAGE_TYPE: r.o53 ??= d; break;
      case OPT.SERVER_ID: r.o54 ??= d; break;
      case OPT.PARAMETER_REQUEST_LIST: r.o55 ??= d; break;
      case OPT.MAX_MESSAGE_SIZE: r.o57 ??= d; break;
      case OPT.VENDOR_CLASS: r.o60 ??= d; break;
      case OPT.USER_CLASS: r.o77 ??= d; break;
      case OPT.RELAY_AGENT: r.o82 ??= d; break;
      case OPT.CLIENT_ARCH: r.o93 ??= d; break;
      case OPT.CLIENT_NDI: r.o94 ??= d; break;
      case OPT.CLIENT_GUID: r.o97 ??= d; break;
      case OPT.IPXE: r.o175 ??= d; break;
    }
  }
  return r;
}

export function classify(p: DhcpPacket, ctx: ClassifyContext = {}): DhcpFacts {
  // Only the options the facts need (typedOptions() decodes ~25, several of them costly).
  const o = readOptions(p);
  const messageType = readU8(o.o53);
  const clientArch = readArchs(o.o93);
  const ndi = o.o94 && parseClientNdi(o.o94);
  const ipxe = o.o175 && parseIpxeOptions(o.o175);
  const userClass = o.o77 && parseUserClass(o.o77);
  const relay = o.o82 && parseRelayAgent(o.o82);
  const pxe = o.o43 && parsePxeOptions(o.o43);
  const mac = macOf(p);
  const vc = readString(o.o60);
  const arch = clientArch?.[0];
  const ai = arch === undefined ? undefined : archInfo(arch); // ai.code === arch
  const features = ipxe?.features ?? [];
  const guidRaw = o.o97;
  const isIpxeUserClass = userClass?.classes.includes('iPXE') ?? false;
  // Built key by key, leaving out what is undefined, in the order of DhcpFacts (golden files
  // list the keys in it): cheaper than an object literal copied by withoutUndefined().
  const f = { op: p.op } as DhcpFacts;
  if (messageType !== undefined) f.messageType = messageType;
  f.messageTypeName = messageTypeName(messageType);
  f.mac = mac;
  f.xid = p.xid;
  f.xidHex = `0x${p.xid.toString(16).padStart(8, '0')}`;
  if (ctx.srcPort !== undefined) f.srcPort = ctx.srcPort;
  if (ctx.dstPort !== undefined) f.dstPort = ctx.dstPort;
  f.ciaddr = p.ciaddr;
  if (vc !== undefined) f.vendorClass = vc;
  f.isPXE = vc?.startsWith('PXEClient') ?? false;
  f.isHTTPClient = vc?.startsWith('HTTPClient') ?? false;
  f.hasArch = clientArch !== undefined;
  if (ai) {
    f.arch = ai.code;
    f.archName = ai.name;
  }
  f.uefi = ai?.uefi ?? false;
  if (ndi) f.ndi = `${ndi.major}.${ndi.minor}`;
  f.ipxe = ipxe !== undefined || isIpxeUserClass;
  f.ipxeFeatures = ipxe?.featureNames ?? [];
  if (ipxe?.version !== undefined) f.ipxeVersion = ipxe.version;
  f.ipxeCapable = ipxeCapable(features);
  if (userClass) f.userClass = userClass.classes;
  const guid = guidRaw && parseGuid(guidRaw);
  if (guid !== undefined) f.guid = guid;
  if (guidRaw) f.guidOption = hex(guidRaw);
  f.relayed = p.giaddr !== '0.0.0.0';
  f.giaddr = p.giaddr;
  if (relay?.circuitId !== undefined) f.relayCircuitId = relay.circuitId;
  if (relay?.remoteId !== undefined) f.relayRemoteId = relay.remoteId;
  f.raspberryPi = p.hlen === 6 && isRaspberryPi(mac);
  if (pxe?.bootItem) f.bootItem = pxe.bootItem;
  if (o.o55) f.requestedParams = readCodes(o.o55);
  const hostname = readString(o.o12);
  if (hostname !== undefined) f.hostname = hostname;
  const maxMessageSize = readU16(o.o57);
  if (maxMessageSize !== undefined) f.maxMessageSize = maxMessageSize;
  const serverId = readIp(o.o54);
  if (serverId !== undefined) f.serverId = serverId;
  const requestedIp = readIp(o.o50);
  if (requestedIp !== undefined) f.requestedIp = requestedIp;
  return f;
}
