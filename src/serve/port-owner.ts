/**
 * Who holds a port? Reads /proc/net/{udp,udp6,tcp,tcp6} for listening sockets on a port and
 * maps their inodes to processes through /proc/<pid>/fd. Used by the start-up check so that
 * "UDP 67 is taken" says "by dnsmasq (pid 812)": the usual culprit on an LTSP server.
 *
 * UDP sockets cannot be probed by binding: with SO_REUSEADDR two UDP sockets share a port
 * silently, so a running dnsmasq would steal half of the DHCP traffic instead of failing us.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';

export interface PortHolder {
  proto: 'udp' | 'tcp';
  port: number;
  address: string;
  inode: number;
  pid?: number;
  command?: string;
}

const TCP_LISTEN = '0A';

function hexToIPv4(hex: string): string {
  // /proc/net/udp prints the address as a little-endian 32-bit hex word.
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function addressOf(hex: string): string {
  if (hex.length === 8) return hexToIPv4(hex);
  if (/^0+$/.test(hex)) return '::';
  if (hex.startsWith('0000000000000000FFFF0000')) return '::ffff:' + hexToIPv4(hex.slice(24));
  return hex.toLowerCase();
}

/** Parse one /proc/net/{udp,tcp}[6] table (pure, exported for tests). */
export function parseProcNet(text: string, proto: 'udp' | 'tcp'): PortHolder[] {
  const out: PortHolder[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [addrHex, portHex] = (f[1] ?? '').split(':');
    if (!addrHex || !portHex) continue;
    if (proto === 'tcp' && f[3] !== TCP_LISTEN) continue;
    // A connected UDP socket (remote port != 0) is a client, not a listener.
    if (proto === 'udp' && !(f[2] ?? '').endsWith(':0000')) continue;
    out.push({ proto, port: parseInt(portHex, 16), address: addressOf(addrHex), inode: Number(f[9]) });
  }
  return out;
}

async function socketOwners(): Promise<Map<number, { pid: number; command: string }>> {
  const owners = new Map<number, { pid: number; command: string }>();
  let pids: string[] = [];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return owners;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    let command: string | undefined;
    for (const fd of fds) {
      let target: string;
      try {
        target = await readlink(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m) continue;
      command ??= (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      owners.set(Number(m[1]), { pid: Number(pid), command });
    }
  }
  return owners;
}

/** Listening sockets on the given ports (other than this process's own). */
export async function findPortHolders(wanted: { proto: 'udp' | 'tcp'; port: number }[]): Promise<PortHolder[]> {
  const holders: PortHolder[] = [];
  for (const proto of ['udp', 'tcp'] as const) {
    const ports = new Set(wanted.filter((w) => w.proto === proto && w.port > 0).map((w) => w.port));
    if (ports.size === 0) continue;
    for (const file of [proto, `${proto}6`]) {
      const text = await readFile(`/proc/net/${file}`, 'utf8').catch(() => '');
      holders.push(...parseProcNet(text, proto).filter((h) => ports.has(h.port)));
    }
  }
  if (holders.length === 0) return holders;
  const owners = await socketOwners();
  return holders
    .map((h) => ({ ...h, ...owners.get(h.inode) }))
    .filter((h) => h.pid !== process.pid);
}

export function describeHolder(h: PortHolder): string {
  const who = h.command ? `${h.command} (pid ${h.pid})` : 'another process (run as root to see which)';
  return `${h.proto.toUpperCase()} port ${h.port} on ${h.address} is already in use by ${who}`;
}
