/**
 * Helpers for the full-DHCP network-namespace tests: namespaces named lt-fd-<run>-<name>
 * (our tag), L2 segments as a bridge in their own namespace, veth links into it, and the
 * full-mode server (bench/dhcp-full-server.mjs) started inside a namespace. Everything is
 * torn down by cleanup(); every wait is bounded.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const SERVER_SCRIPT = path.join(ROOT, 'bench', 'dhcp-full-server.mjs');
export const SIM_SCRIPT = path.join(ROOT, 'bench', 'dhcp-full-sim.mjs');

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 20_000, input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Can this process make namespaces (root, ip, nft)? */
export function netnsAvailable(): boolean {
  try {
    if (process.getuid?.() !== 0) return false;
    sh('ip', ['netns', 'list']);
    sh('nft', ['--version']);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, ms: number, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export class Topology {
  readonly run = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private links = 0;

  ns(name: string): string {
    const full = `lt-fd-${this.run}-${name}`;
    if (!this.namespaces.includes(full)) {
      sh('ip', ['netns', 'add', full]);
      this.namespaces.push(full);
      sh('ip', ['-n', full, 'link', 'set', 'lo', 'up']);
    }
    return full;
  }

  /** A switch: a bridge `br0` in namespace `name`. */
  bridge(name: string): string {
    const ns = this.ns(name);
    sh('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    sh('ip', ['-n', ns, 'link', 'set', 'br0', 'up']);
    return ns;
  }

  /** veth `ifname` in `ns` (MAC, address/prefix optional) plugged into the bridge of `swNs`. */
  plug(swNs: string, ns: string, ifname: string, o: { mac?: string; addr?: string } = {}): void {
    const port = `p${this.links++}`;
    sh('ip', ['link', 'add', ifname, 'netns', ns, ...(o.mac ? ['address', o.mac] : []), 'type', 'veth', 'peer', 'name', port, 'netns', swNs]);
    sh('ip', ['-n', swNs, 'link', 'set', port, 'master', 'br0', 'up']);
    if (o.addr) sh('ip', ['-n', ns, 'addr', 'add', o.addr, 'dev', ifname]);
    sh('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
  }

  /** A process in a namespace (killed by cleanup). */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess & { out: () => string; err: () => string } {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    this.procs.push(p);
    return Object.assign(p, { out: () => out, err: () => err });
  }

  /** The full-mode server in `ns`; resolves when it printed its ready line. */
  async server(ns: string, args: string[]): Promise<ChildProcess & { out: () => string; err: () => string; ready: Record<string, unknown> }> {
    const p = this.spawn(ns, process.execPath, [SERVER_SCRIPT, ...args]);
    const line = await waitFor('the full DHCP server to start', () => p.out().split('\n').find((l) => l.startsWith('{"ready"')) ?? (p.exitCode !== null ? `EXIT ${p.exitCode}: ${p.err()}` : undefined), 15_000, 20);
    if (line.startsWith('EXIT')) throw new Error(line);
    return Object.assign(p, { ready: JSON.parse(line) as Record<string, unknown> });
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    for (const ns of this.namespaces.reverse()) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
  }
}

/** Exits of a child, bounded. */
export function exited(p: ChildProcess, ms = 10_000): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    p.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
