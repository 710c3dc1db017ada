/**
 * What the decision core needs from the configuration, as plain data and small pure
 * functions: boot file per architecture, the iPXE script location, the PXE menu services
 * LTSP's dnsmasq config defines, and the client allow-list.
 */
import { HTTP_TO_PXE_ARCH, archName, type DhcpFacts } from '../../protocols/dhcp/index.js';
import { bootFileKey } from '../config/keys.js';
import { matchPattern } from '../config/ltsp-conf.js';
import type { ClientSettings, LoadedConfig } from '../config/index.js';

/** LTSP's files (ltsp-dnsmasq.conf `dhcp-boot` lines); other archs only when configured. */
export const DEFAULT_BOOT_FILES: Readonly<Record<string, string>> = {
  bios: 'ltsp/undionly.kpxe',
  'efi-x64': 'ltsp/snponly.efi',
};
export const IPXE_SCRIPT = 'ltsp/ltsp.ipxe';
/** The per-client ltsp.conf key that overrides the firmware boot file. */
export const CLIENT_BOOT_FILE_KEY = 'BOOT_FILE';

export interface DhcpPolicy {
  /** arch name → TFTP path ('' = arch disabled). */
  bootFiles: Readonly<Record<string, string>>;
  http: { enabled: boolean; port: number };
  /** Port the PXE boot server listens on (4011, or the ephemeral one in tests). */
  pxePort: number;
  /** MACs / globs; empty = every PXE client. */
  allowClients: readonly string[];
  clientSettings(mac: string): ClientSettings;
}

/**
 * Per-MAC caches live as long as their policy, i.e. one config generation (a reload builds a
 * new policy). Bounded: a flood of random MACs empties the cache instead of growing it.
 */
const CACHE_MAX = 4096;
function cached<V>(map: Map<string, V>, key: string, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    if (map.size >= CACHE_MAX) map.clear();
    v = make();
    map.set(key, v);
  }
  return v;
}

/**
 * The policy of one config generation. A client's ltsp.conf settings are resolved once per
 * MAC (LTSP's section evaluation and glob matching are far costlier than the rest of a
 * decision) and frozen, since every later packet of that client shares the object.
 */
export function policyFromConfig(loaded: LoadedConfig, ports?: { pxe?: number }): DhcpPolicy {
  const c = loaded.config;
  const settings = new Map<string, ClientSettings>();
  return {
    bootFiles: { ...DEFAULT_BOOT_FILES, ...c.dhcp.bootFiles },
    http: { enabled: c.http.enabled, port: c.http.port },
    pxePort: ports?.pxe ?? c.dhcp.pxePort,
    allowClients: c.dhcp.allowClients,
    clientSettings: (mac) => cached(settings, mac, () => Object.freeze(loaded.clientSettings(mac))),
  };
}

/** Allow-list verdicts per list (one per policy) and MAC: matchPattern compiles a RegExp per call. */
const allowed = new WeakMap<readonly string[], Map<string, boolean>>();

export function isAllowed(mac: string, allow: readonly string[]): boolean {
  if (allow.length === 0) return true;
  let verdicts = allowed.get(allow);
  if (!verdicts) allowed.set(allow, (verdicts = new Map()));
  return cached(verdicts, mac, () => allow.some((p) => matchPattern(p.toLowerCase(), mac)));
}

export function httpUrl(server: string, port: number, path: string): string {
  return `http://${server}${port === 80 ? '' : `:${port}`}/${path.replace(/^\/+/, '')}`;
}

/** The iPXE script: over HTTP when the HTTP service is on, else the TFTP path. */
export function ipxeScript(policy: DhcpPolicy, server: string): string {
  return policy.http.enabled ? httpUrl(server, policy.http.port, IPXE_SCRIPT) : IPXE_SCRIPT;
}

/**
 * The firmware-stage boot file for an arch: the client's ltsp.conf `BOOT_FILE_<ARCH>` or
 * `BOOT_FILE`, else dhcp.bootFiles[arch]; HTTP archs fall back to their EFI arch's file.
 * '' means the arch is disabled; undefined means nothing is configured for it.
 */
export function firmwareFile(arch: number, policy: DhcpPolicy, settings: ClientSettings): string | undefined {
  const name = archName(arch);
  const own = settings[archBootFileKey(name)] ?? settings[CLIENT_BOOT_FILE_KEY] ?? policy.bootFiles[name];
  if (own !== undefined) return own;
  const pxe = HTTP_TO_PXE_ARCH[arch];
  return pxe === undefined ? undefined : policy.bootFiles[archName(pxe)];
}

/** bootFileKey(name), computed once per arch name. */
const bootFileKeys = new Map<string, string>();
const archBootFileKey = (name: string): string => cached(bootFileKeys, name, () => bootFileKey(name));

/** A PXE menu entry of LTSP's dnsmasq config (`pxe-service=`): boot type, arch (CSA), text, file. */
export interface PxeService {
  type: number;
  csa: number;
  menu: string;
  file: string;
}

export const RPI_MENU_TEXT = 'Raspberry Pi Boot   '; // three trailing spaces: older Pi firmware matches them (LTSP 29e4112)
const basename = (f: string) => f.replace(/^.*\//, '');

/**
 * The services LTSP's dnsmasq config declares, in its order, so boot types are dnsmasq's:
 * 32768 BIOS NBP, 32769 x64 UEFI NBP, 32770/32771 the iPXE script, 32772 Raspberry Pi.
 */
export function allServices(policy: DhcpPolicy, settings: ClientSettings, server: string): PxeService[] {
  const script = ipxeScript(policy, server);
  const out: PxeService[] = [];
  const bios = firmwareFile(0, policy, settings);
  const efi = firmwareFile(7, policy, settings);
  if (bios) out.push({ type: 32768, csa: 0, menu: basename(bios), file: bios });
  if (efi) out.push({ type: 32769, csa: 7, menu: basename(efi), file: efi });
  out.push({ type: 32770, csa: 0, menu: basename(script), file: script });
  out.push({ type: 32771, csa: 7, menu: basename(script), file: script });
  out.push({ type: 32772, csa: 0, menu: RPI_MENU_TEXT, file: 'unused' });
  return out;
}

/** The menu a client sees: its arch's NBP or script entry (by iPXE capability), plus the Pi entry for Pis. */
export function servicesFor(f: DhcpFacts, all: PxeService[]): PxeService[] {
  const mine = f.ipxeCapable ? [32770, 32771] : [32768, 32769];
  return all.filter((s) => s.csa === f.arch && (mine.includes(s.type) || (s.type === 32772 && f.raspberryPi)));
}
