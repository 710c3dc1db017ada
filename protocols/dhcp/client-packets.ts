/**
 * Client packets shaped like the ones real firmware sends (option sets and vendor classes
 * taken from SeaBIOS/iPXE, OVMF and Linux captures), for tests, benchmarks and simulated
 * clients. They are stand-ins: the real captures live in pcap-fixtures/.
 */
import { buildReply } from './builder.js';
import { DHCPDISCOVER, DHCPREQUEST, encode, OPT } from './options.js';
import { BOOTREQUEST, FLAG_BROADCAST, encodeDhcp, type DhcpOption, type DhcpPacket } from './packet.js';
import { encodePxeOptions } from './pxe.js';

export type ClientKind =
  /** A vendor PXE ROM on a BIOS PC (Intel-style option set). */
  | 'bios-pxe'
  /** undionly.kpxe / a BIOS iPXE with HTTP, menu, PXE and bzImage: LTSP-capable. */
  | 'ipxe-bios'
  /** An iPXE NIC ROM without the HTTP feature: chain-loaded to ours. */
  | 'ipxe-bios-weak'
  /** OVMF (EDK2) UEFI PXE, x64. */
  | 'ovmf-pxe'
  /** x64 firmware sending arch 9. */
  | 'efi-bc-pxe'
  /** snponly.efi: x64 UEFI iPXE with HTTP, menu and EFI. */
  | 'ipxe-efi'
  /** OVMF UEFI HTTP Boot, x64. */
  | 'ovmf-http'
  /** ARM64 UEFI PXE. */
  | 'arm64-pxe'
  /** A Raspberry Pi's bootloader (arch 0, Pi OUI). */
  | 'rpi'
  /** The initramfs's klibc ipconfig: no PXE. */
  | 'linux-ipconfig';

export interface ClientPacketOptions {
  mac?: string;
  xid?: number;
  messageType?: number;
  ciaddr?: string;
  giaddr?: string;
  secs?: number;
  /** Option 43 sub-option 71 (PXE boot server discovery): boot type, layer 0. */
  bootItem?: number;
  /** Omit option 97. */
  noGuid?: boolean;
}

const DEFAULT_MAC: Record<ClientKind, string> = {
  'bios-pxe': '52:54:00:00:00:01',
  'ipxe-bios': '52:54:00:00:00:02',
  'ipxe-bios-weak': '52:54:00:00:00:03',
  'ovmf-pxe': '52:54:00:00:00:04',
  'efi-bc-pxe': '52:54:00:00:00:05',
  'ipxe-efi': '52:54:00:00:00:06',
  'ovmf-http': '52:54:00:00:00:07',
  'arm64-pxe': '52:54:00:00:00:08',
  rpi: 'dc:a6:32:00:00:09',
  'linux-ipconfig': '52:54:00:00:00:0a',
};

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const features = (codes: number[]) => codes.flatMap((c) => [c, 1, 1]);
// iPXE sub-options 177 (bus id: PCI 8086:100e) and 235 (version 1.21.1)
const IPXE_TAIL = [177, 5, 1, 0x80, 0x86, 0x10, 0x0e, 235, 3, 1, 21, 1];
const IPXE_BIOS_FEATURES = features([0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x17, 0x18, 0x19, 0x21, 0x22, 0x23, 0x27]);
const IPXE_EFI_FEATURES = features([0x11, 0x12, 0x13, 0x14, 0x15, 0x17, 0x24, 0x27]);

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function guid(mac: Uint8Array): Uint8Array {
  const g = new Uint8Array(17);
  g.set([0x56, 0x4d, 0x11, 0x22], 1);
  g.set(mac, 11);
  return g;
}

function pxeOptions(kind: ClientKind, mac: Uint8Array): DhcpOption[] {
  const opt = (code: number, data: Uint8Array | number[]): DhcpOption => ({ code, data: data instanceof Uint8Array ? data : Uint8Array.from(data) });
  const vc = (s: string) => opt(OPT.VENDOR_CLASS, encode.string(s));
  const arch = (a: number) => opt(OPT.CLIENT_ARCH, encode.u16(a));
  const ndi = (maj: number, min: number) => opt(OPT.CLIENT_NDI, [1, maj, min]);
  const ipxe = (f: number[]) => [opt(OPT.IPXE, [...f, ...IPXE_TAIL]), opt(OPT.USER_CLASS, encode.string('iPXE'))];
  const uefiPrl = [1, 2, 3, 4, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135];
  const ipxePrl = [1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203];
  switch (kind) {
    case 'bios-pxe':
    case 'rpi':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1260)), opt(OPT.PARAMETER_REQUEST_LIST, [...range(1, 67), 97, ...range(128, 135)]), arch(0), ndi(2, 1), vc('PXEClient:Arch:00000:UNDI:002001')];
    case 'ipxe-bios':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), arch(0), ndi(2, 1), vc('PXEClient:Arch:00000:UNDI:002001'), ...ipxe(IPXE_BIOS_FEATURES), opt(OPT.CLIENT_ID, [1, ...mac]), opt(OPT.PARAMETER_REQUEST_LIST, ipxePrl)];
    case 'ipxe-bios-weak':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), arch(0), ndi(2, 1), vc('PXEClient:Arch:00000:UNDI:002001'), ...ipxe(features([0x15, 0x18, 0x21])), opt(OPT.PARAMETER_REQUEST_LIST, ipxePrl)];
    case 'ovmf-pxe':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), opt(OPT.PARAMETER_REQUEST_LIST, uefiPrl), ndi(3, 0), arch(7), vc('PXEClient:Arch:00007:UNDI:003000')];
    case 'efi-bc-pxe':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), opt(OPT.PARAMETER_REQUEST_LIST, uefiPrl), ndi(3, 0), arch(9), vc('PXEClient:Arch:00009:UNDI:003000')];
    case 'ipxe-efi':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), arch(7), ndi(3, 10), vc('PXEClient:Arch:00007:UNDI:003010'), ...ipxe(IPXE_EFI_FEATURES), opt(OPT.CLIENT_ID, [1, ...mac]), opt(OPT.PARAMETER_REQUEST_LIST, ipxePrl)];
    case 'ovmf-http':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), opt(OPT.PARAMETER_REQUEST_LIST, uefiPrl), ndi(3, 0), arch(16), vc('HTTPClient:Arch:00016:UNDI:003000')];
    case 'arm64-pxe':
      return [opt(OPT.MAX_MESSAGE_SIZE, encode.u16(1472)), opt(OPT.PARAMETER_REQUEST_LIST, uefiPrl), ndi(3, 0), arch(11), vc('PXEClient:Arch:00011:UNDI:003000')];
    case 'linux-ipconfig':
      return [vc('Linux ipconfig'), opt(OPT.PARAMETER_REQUEST_LIST, [1, 3, 6, 12, 15, 17, 26, 28, 40, 42])];
  }
}

/** A client packet as a DhcpPacket (not encoded). */
export function clientPacket(kind: ClientKind, o: ClientPacketOptions = {}): DhcpPacket {
  const mac = macBytes(o.mac ?? DEFAULT_MAC[kind]);
  const options = pxeOptions(kind, mac);
  const hasGuid = kind !== 'linux-ipconfig' && kind !== 'ipxe-bios' && kind !== 'ipxe-efi' && !o.noGuid;
  if (hasGuid) options.push({ code: OPT.CLIENT_GUID, data: guid(mac) });
  if (o.bootItem !== undefined) options.push({ code: OPT.VENDOR_SPECIFIC, data: encodePxeOptions({ bootItem: { type: o.bootItem, layer: 0 } }) });
  const p = buildReply(
    { htype: 1, hlen: 6, xid: o.xid ?? 0x1d2c3b4a, chaddr: mac, giaddr: o.giaddr ?? '0.0.0.0', flags: FLAG_BROADCAST, secs: o.secs ?? 4, hops: 0 },
    { messageType: o.messageType ?? DHCPDISCOVER, ciaddr: o.ciaddr, options },
  );
  p.op = BOOTREQUEST;
  if ((o.messageType ?? DHCPDISCOVER) === DHCPREQUEST && !o.ciaddr) p.flags = FLAG_BROADCAST;
  return p;
}

/** A client packet encoded (padded to 300 bytes like most firmware). */
export function clientPacketBytes(kind: ClientKind, o: ClientPacketOptions = {}): Uint8Array {
  return encodeDhcp(clientPacket(kind, o));
}

export const CLIENT_KINDS: readonly ClientKind[] = Object.keys(DEFAULT_MAC) as ClientKind[];
