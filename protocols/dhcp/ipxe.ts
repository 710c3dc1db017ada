/**
 * Option 175: iPXE's encapsulated options (iPXE src/include/ipxe/dhcp.h, features.h).
 * iPXE announces each built-in feature as a sub-option whose code is the feature
 * (value: usually one byte, 1), plus bus-id (177) and version (235).
 */
import { parseSubOptions, type SubOption } from './tlv.js';

/** Feature codes from iPXE `include/ipxe/features.h`. */
export const IPXE_FEATURES: Readonly<Record<number, string>> = {
  0x10: 'pxe-ext',
  0x11: 'iscsi',
  0x12: 'aoe',
  0x13: 'http',
  0x14: 'https',
  0x15: 'tftp',
  0x16: 'ftp',
  0x17: 'dns',
  0x18: 'bzimage',
  0x19: 'multiboot',
  0x1a: 'slam',
  0x1b: 'srp',
  0x20: 'nbi',
  0x21: 'pxe',
  0x22: 'elf',
  0x23: 'comboot',
  0x24: 'efi',
  0x25: 'fcoe',
  0x26: 'vlan',
  0x27: 'menu',
  0x28: 'sdi',
  0x29: 'nfs',
};
export const IPXE_FEATURE_HTTP = 0x13;
export const IPXE_FEATURE_BZIMAGE = 0x18;
export const IPXE_FEATURE_PXE = 0x21;
export const IPXE_FEATURE_EFI = 0x24;
export const IPXE_FEATURE_MENU = 0x27;
export const IPXE_BUS_ID = 177;
export const IPXE_VERSION = 235;

export interface IpxeBusId {
  /** 1 = PCI, 2 = ISAPnP, 3 = EISA, 4 = MCA, 5 = ISA, 6 = TAP, 7 = EFI, 8 = Xen, 9 = Hyper-V, 10 = USB */
  busType: number;
  vendor: number;
  device: number;
}

export interface IpxeOptions {
  /** Feature codes announced (sub-options 0x10..0x2f), ascending. */
  features: number[];
  /** Their names where known (`http`, `menu`, ...). */
  featureNames: string[];
  busId?: IpxeBusId;
  /** "major.minor.patch" from sub-option 235. */
  version?: string;
  raw: SubOption[];
}

/** Decodes option 175; undefined when it is not a valid sub-option list. */
export function parseIpxeOptions(data: Uint8Array): IpxeOptions | undefined {
  const raw = parseSubOptions(data);
  if (!raw) return undefined;
  const features = new Set<number>();
  const out: IpxeOptions = { features: [], featureNames: [], raw };
  for (const s of raw) {
    if (s.code >= 0x10 && s.code < 0x30) features.add(s.code);
    else if (s.code === IPXE_BUS_ID && s.data.length >= 5) {
      const d = s.data;
      out.busId = { busType: d[0]!, vendor: (d[1]! << 8) | d[2]!, device: (d[3]! << 8) | d[4]! };
    } else if (s.code === IPXE_VERSION && s.data.length === 3) {
      out.version = `${s.data[0]}.${s.data[1]}.${s.data[2]}`;
    }
  }
  out.features = [...features].sort((a, b) => a - b);
  out.featureNames = out.features.map((f) => IPXE_FEATURES[f] ?? `0x${f.toString(16)}`);
  return out;
}

/**
 * LTSP's test (ltsp-dnsmasq.conf, #579): an iPXE is "capable" when it has HTTP and MENU
 * and either PXE + BZIMAGE (BIOS builds) or EFI. Weaker builds (some NIC ROMs) are
 * chain-loaded to LTSP's own iPXE.
 */
export function ipxeCapable(features: readonly number[]): boolean {
  const has = (f: number) => features.includes(f);
  return has(IPXE_FEATURE_HTTP) && has(IPXE_FEATURE_MENU) && ((has(IPXE_FEATURE_PXE) && has(IPXE_FEATURE_BZIMAGE)) || has(IPXE_FEATURE_EFI));
}
