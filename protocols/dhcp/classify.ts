/**
 * classify(packet) computes, once, every fact the boot decision needs (smee's `NewInfo`
 * idea): who the client is, which firmware, whether it is iPXE and how capable, where it
 * came from. The decision core (src/dhcp/decide.ts) reads only these facts.
 */
import { archInfo } from './arch.js';
import { ipxeCapable } from './ipxe.js';
import { hex, messageTypeName, typedOptions, withoutUndefined, OPT } from './options.js';
import { getOption, macOf, type DhcpPacket } from './packet.js';

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

export function classify(p: DhcpPacket, ctx: ClassifyContext = {}): DhcpFacts {
  const t = typedOptions(p);
  const mac = macOf(p);
  const vc = t.vendorClass;
  const arch = t.clientArch?.[0];
  const ai = arch === undefined ? undefined : archInfo(arch);
  const features = t.ipxe?.features ?? [];
  const guidRaw = getOption(p, OPT.CLIENT_GUID);
  const isIpxeUserClass = t.userClass?.classes.includes('iPXE') ?? false;
  const facts: DhcpFacts = {
    op: p.op,
    messageType: t.messageType,
    messageTypeName: messageTypeName(t.messageType),
    mac,
    xid: p.xid,
    xidHex: `0x${p.xid.toString(16).padStart(8, '0')}`,
    srcPort: ctx.srcPort,
    dstPort: ctx.dstPort,
    ciaddr: p.ciaddr,
    vendorClass: vc,
    isPXE: vc?.startsWith('PXEClient') ?? false,
    isHTTPClient: vc?.startsWith('HTTPClient') ?? false,
    hasArch: t.clientArch !== undefined,
    arch,
    archName: ai?.name,
    uefi: ai?.uefi ?? false,
    ndi: t.clientNdi ? `${t.clientNdi.major}.${t.clientNdi.minor}` : undefined,
    ipxe: t.ipxe !== undefined || isIpxeUserClass,
    ipxeFeatures: t.ipxe?.featureNames ?? [],
    ipxeVersion: t.ipxe?.version,
    ipxeCapable: ipxeCapable(features),
    userClass: t.userClass?.classes,
    guid: t.guid,
    guidOption: guidRaw ? hex(guidRaw) : undefined,
    relayed: p.giaddr !== '0.0.0.0',
    giaddr: p.giaddr,
    relayCircuitId: t.relayAgent?.circuitId,
    relayRemoteId: t.relayAgent?.remoteId,
    raspberryPi: p.hlen === 6 && isRaspberryPi(mac),
    bootItem: t.pxe?.bootItem,
    requestedParams: t.parameterRequestList,
    hostname: t.hostname,
    maxMessageSize: t.maxMessageSize,
    serverId: t.serverId,
    requestedIp: t.requestedIp,
  };
  return withoutUndefined(facts);
}
