/**
 * The ltsp.conf keys that feed the typed Config, read from the server settings
 * (unnamed → [common] → [server]). LTSP's own names where LTSP has them (BASE_DIR,
 * TFTP_DIR, HOME_DIR, TFTP, DNS_SERVER); the others are ltsp-ts service keys, documented
 * in README ("ltsp.conf keys"). Every other key is left to LTSP (client settings, hooks).
 */
import { isIPv4 } from 'node:net';
import { ARCH_NAMES } from '../../protocols/dhcp/arch.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

export interface KeySpec {
  /** ltsp.conf key. */
  key: string;
  /** Path in Config. */
  path: string[];
  parse: (v: string) => Parsed;
  /** One line for README / `ltsp-ts config`. */
  doc: string;
}

const ok = (value: unknown): Parsed => ({ ok: true, value });
const bad = (message: string): Parsed => ({ ok: false, message });

function int(min: number, max: number) {
  return (v: string): Parsed => {
    const t = v.trim();
    if (!/^\d+$/.test(t)) return bad(`expected an integer ${min}..${max}, got '${v}'`);
    const n = Number(t);
    return n >= min && n <= max ? ok(n) : bad(`expected an integer ${min}..${max}, got ${n}`);
  };
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);
function bool(v: string): Parsed {
  const t = v.trim().toLowerCase();
  if (TRUE.has(t)) return ok(true);
  if (FALSE.has(t)) return ok(false);
  return bad(`expected 0 or 1, got '${v}'`);
}

function oneOf(values: readonly string[]) {
  return (v: string): Parsed => {
    const t = v.trim().toLowerCase();
    return values.includes(t) ? ok(t) : bad(`expected one of ${values.join('|')}, got '${v}'`);
  };
}

function text(v: string): Parsed {
  return v.trim() === '' ? bad('must not be empty') : ok(v.trim());
}

function absPath(v: string): Parsed {
  const t = v.trim();
  if (!t.startsWith('/')) return bad(`expected an absolute path, got '${v}'`);
  return ok(t.length > 1 ? t.replace(/\/+$/, '') : t);
}

/** Space- or comma-separated list (LTSP writes space lists; dnsmasq users write commas). */
export function splitList(v: string): string[] {
  return v.split(/[\s,]+/).filter(Boolean);
}

function list(check?: (item: string) => string | undefined) {
  return (v: string): Parsed => {
    const items = splitList(v);
    for (const it of items) {
      const problem = check?.(it);
      if (problem) return bad(problem);
    }
    return ok(items);
  };
}

function ipv4(v: string): Parsed {
  const t = v.trim();
  return isIPv4(t) ? ok(t) : bad(`expected an IPv4 address, got '${v}'`);
}

const ipv4Item = (it: string) => (isIPv4(it) ? undefined : `expected IPv4 addresses, got '${it}'`);
const macGlobItem = (it: string) =>
  /^[0-9a-f:*?|-]+$/i.test(it) ? undefined : `expected MAC addresses or globs like 3c:07:71:*, got '${it}'`;
const ifaceItem = (it: string) => (/^[A-Za-z0-9_.:@-]{1,15}$/.test(it) ? undefined : `expected interface names, got '${it}'`);

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** dnsmasq/LTSP lease time: `43200`, `45m`, `12h`, `1d`, `2w`. */
export function parseLeaseTime(v: string): number | undefined {
  const m = /^(\d+)([smhdw]?)$/i.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

function dhcpRange(v: string): Parsed {
  const parts = v.split(',').map((s) => s.trim());
  if (parts.length < 2 || parts.length > 3) return bad(`expected START,END[,LEASE] (e.g. 192.168.67.20,192.168.67.250,12h), got '${v}'`);
  const [start, end, lease] = parts as [string, string, string | undefined];
  if (!isIPv4(start) || !isIPv4(end)) return bad(`START and END must be IPv4 addresses, got '${v}'`);
  const num = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  if (num(start) > num(end)) return bad(`START ${start} is after END ${end}`);
  const range: { start: string; end: string; leaseSeconds?: number } = { start, end };
  if (lease !== undefined) {
    const secs = parseLeaseTime(lease);
    if (secs === undefined) return bad(`bad lease time '${lease}' (e.g. 3600, 45m, 12h, 1d)`);
    range.leaseSeconds = secs;
  }
  return ok(range);
}

export const KEY_SPECS: KeySpec[] = [
  { key: 'BASE_DIR', path: ['baseDir'], parse: absPath, doc: 'chroots and images/ (LTSP; default /srv/ltsp)' },
  { key: 'TFTP_DIR', path: ['tftpDir'], parse: absPath, doc: 'TFTP root (LTSP; default /srv/tftp)' },
  { key: 'HOME_DIR', path: ['homeDir'], parse: absPath, doc: 'home directories (LTSP; default /home)' },
  { key: 'LOG_LEVEL', path: ['logLevel'], parse: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']), doc: 'trace|debug|info|warn|error|silent (default info)' },
  { key: 'INTERFACES', path: ['interfaces'], parse: list(ifaceItem), doc: 'interfaces to serve, space list (default: every IPv4 interface but lo)' },
  { key: 'SERVER_IP', path: ['serverIp'], parse: ipv4, doc: 'server address handed to clients (default: the address of the serving interface)' },
  { key: 'DHCP_MODE', path: ['dhcp', 'mode'], parse: oneOf(['proxy', 'full', 'off']), doc: 'proxy|full|off (default proxy)' },
  { key: 'DHCP_PORT', path: ['dhcp', 'port'], parse: int(0, 65535), doc: 'DHCP/proxyDHCP port (default 67)' },
  { key: 'PXE_PORT', path: ['dhcp', 'pxePort'], parse: int(0, 65535), doc: 'PXE boot-server port (default 4011)' },
  { key: 'ALLOWED_CLIENTS', path: ['dhcp', 'allowClients'], parse: list(macGlobItem), doc: 'answer only these MACs/globs, space list (default: every PXE client)' },
  { key: 'DHCP_RANGE', path: ['dhcp', 'range'], parse: dhcpRange, doc: 'full mode pool START,END[,LEASE], lease as 3600, 45m, 12h, 1d (default lease 12h)' },
  { key: 'LEASE_FILE', path: ['dhcp', 'leaseFile'], parse: absPath, doc: 'full mode lease journal (default /var/lib/ltsp-ts/leases.journal)' },
  { key: 'DHCP_ROUTER', path: ['dhcp', 'router'], parse: ipv4, doc: 'full mode option 3 (router)' },
  { key: 'DNS_SERVER', path: ['dhcp', 'dnsServers'], parse: list(ipv4Item), doc: 'full mode option 6, space list (LTSP)' },
  { key: 'TFTP', path: ['tftp', 'enabled'], parse: bool, doc: 'TFTP service on/off, 0|1 (LTSP; default 1)' },
  { key: 'TFTP_PORT', path: ['tftp', 'port'], parse: int(0, 65535), doc: 'TFTP port (default 69)' },
  { key: 'TFTP_ADDRESS', path: ['tftp', 'address'], parse: ipv4, doc: 'TFTP bind address (default 0.0.0.0)' },
  { key: 'TFTP_MAX_BLKSIZE', path: ['tftp', 'maxBlksize'], parse: int(8, 65464), doc: 'largest blksize granted (default 65464; also capped by MTU)' },
  { key: 'TFTP_MAX_WINDOWSIZE', path: ['tftp', 'maxWindowsize'], parse: int(1, 65535), doc: 'largest RFC 7440 windowsize granted (default 64)' },
  { key: 'TFTP_MAX_TRANSFERS', path: ['tftp', 'maxTransfers'], parse: int(1, 1_000_000), doc: 'concurrent transfers (default 500)' },
  { key: 'TFTP_FOLLOW_SYMLINKS', path: ['tftp', 'followSymlinksOutside'], parse: bool, doc: 'follow symlinks that leave TFTP_DIR, 0|1 (default 0; Raspberry Pi needs 1)' },
  { key: 'TFTP_RETRANSMIT_MS', path: ['tftp', 'retransmitMs'], parse: int(1, 600_000), doc: 'first retransmit timeout in ms, doubles per retry (default 1000)' },
  { key: 'TFTP_RETRIES', path: ['tftp', 'retries'], parse: int(1, 100), doc: 'retransmits before a transfer is given up (default 5)' },
  { key: 'HTTP', path: ['http', 'enabled'], parse: bool, doc: 'HTTP service on/off, 0|1 (default 1)' },
  { key: 'HTTP_PORT', path: ['http', 'port'], parse: int(0, 65535), doc: 'HTTP port (default 8080)' },
  { key: 'HTTP_ADDRESS', path: ['http', 'address'], parse: ipv4, doc: 'HTTP bind address (default 0.0.0.0)' },
  { key: 'HTTP_IMAGES', path: ['http', 'images'], parse: bool, doc: 'serve BASE_DIR/images over HTTP, 0|1 (default 0: images hold /etc/shadow)' },
  { key: 'HTTP_IMAGES_ALLOW', path: ['http', 'imagesAllow'], parse: list(), doc: 'clients (IPs/CIDRs) allowed to fetch images, space list' },
  { key: 'HTTP_TOKEN_SECRET', path: ['http', 'tokenSecret'], parse: text, doc: 'secret for signed image URLs' },
  { key: 'HTTP_CACHE_MB', path: ['http', 'cacheMB'], parse: int(0, 1_048_576), doc: 'MiB of RAM for kernels/initrds served over HTTP from memory (default 256, 0 = off)' },
  { key: 'HTTP_TOKEN_TTL', path: ['http', 'tokenTtlSeconds'], parse: int(1, 31_536_000), doc: 'lifetime of signed image URLs in seconds (default 3600)' },
];

/** `BOOT_FILE_<ARCH>`: boot file per architecture (dhcp.bootFiles). */
export const BOOT_FILE_PREFIX = 'BOOT_FILE_';

/** LTSP/dnsmasq tag spellings accepted besides the arch names of protocols/dhcp/arch.ts. */
const ARCH_ALIASES: Record<string, string> = {
  x86pc: 'bios',
  x86_64_efi: 'efi-x64',
  x64_efi: 'efi-x64',
  ia32_efi: 'efi-ia32',
  arm64_efi: 'efi-arm64',
  arm32_efi: 'efi-arm32',
  http_x86_64: 'http-x64',
  http_arm64: 'http-arm64',
};

/** Arch name for a BOOT_FILE_<SUFFIX> key suffix, or undefined when unknown. */
export function archForBootFileKey(suffix: string): string | undefined {
  const lower = suffix.toLowerCase();
  const alias = ARCH_ALIASES[lower];
  if (alias) return alias;
  const name = lower.replace(/_/g, '-');
  return ARCH_NAMES.includes(name) ? name : undefined;
}

/** BOOT_FILE_<ARCH> key for an arch name (`efi-x64` → BOOT_FILE_EFI_X64). */
export function bootFileKey(arch: string): string {
  return BOOT_FILE_PREFIX + arch.toUpperCase().replace(/-/g, '_');
}

/** dnsmasq-era LTSP keys that ltsp-ts reads only partly. */
export const LEGACY_DHCP_KEYS = ['PROXY_DHCP', 'REAL_DHCP'];
