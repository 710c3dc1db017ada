/**
 * The multi-NIC guard of full DHCP mode: ltsp-ts must never answer a DHCP client on
 * another card's network (a rogue DHCP server on the school LAN). Node's dgram cannot tell
 * on which interface a broadcast arrived (no IP_PKTINFO, no SO_BINDTODEVICE), so the
 * guarantee comes from outside the socket, checked before serving and every few seconds:
 *
 *  1. nftables (preferred; needs CAP_NET_ADMIN and the `nft` tool): ltsp-ts installs its
 *     own table `inet ltsp_ts_dhcp_guard` that drops DHCP server traffic on every other
 *     interface, both ways:
 *        input:  udp dport 67 iifname != "<lan>" drop   (other cards' clients never reach us)
 *        output: udp sport 67 oifname != "<lan>" drop   (no reply of ours leaves elsewhere)
 *     and reads it back. A drop in any base chain is final in nftables, so no other table
 *     can undo it. The table is removed on a clean stop.
 *  2. systemd: the unit has `RestrictNetworkInterfaces=<lan>` (plus `lo`), an allow-list
 *     enforced by the kernel (cgroup BPF) on every socket of the service; read back with
 *     `systemctl show`.
 *  3. single interface: the LAN card is the only non-loopback interface with IPv4; a
 *     second one appearing later (USB NIC, VPN) stops full mode until it goes away.
 * When none holds, full mode refuses to start and says how to get one.
 *
 * Re-checks: the nftables guard keeps one `nft monitor ruleset` child that prints every
 * ruleset change; a line naming our table (deleted, flushed, edited) makes the service stop
 * answering at once and re-verify (putting the table back). Without a live monitor, and as
 * a slow fallback with one, check() runs `nft` — a fork of the whole server process, which
 * every 5 s stalled the event loop for milliseconds (bench/dhcp-full.mjs paced p99).
 */
import { execFile, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export type GuardKind = 'nftables' | 'systemd' | 'single-interface';
/** `none` is for tests on loopback only: no guarantee at all. */
export type GuardMode = 'auto' | GuardKind | 'none';
export const GUARD_MODES: readonly GuardMode[] = ['auto', 'nftables', 'systemd', 'single-interface', 'none'];

export const NFT_TABLE = 'ltsp_ts_dhcp_guard';

export class GuardError extends Error {}

export interface Guard {
  kind: GuardKind | 'none';
  /** One line for the start-up log. */
  describe: string;
  /** Re-check (and for nftables re-install when it vanished); undefined = still safe, else why not. */
  check(): Promise<string | undefined>;
  /**
   * Event-driven re-checks (nftables: `nft monitor`): `changed` is called as soon as something
   * may have touched the guard; the caller then stops answering until check() passes. live()
   * says whether changes are being reported now; while not, the caller polls check().
   */
  watch?(changed: () => void): { live(): boolean };
  close(): Promise<void>;
}

// ------------------------------------------------------------------ pure helpers

/** The nftables script that (re)creates our table atomically (add+delete+define in one transaction). */
export function nftGuardScript(iface: string, port = 67): string {
  const q = JSON.stringify(iface);
  return [
    `add table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    `  chain input {`,
    `    type filter hook input priority -10; policy accept;`,
    `    udp dport ${port} iifname != ${q} counter drop comment "ltsp-ts full DHCP: only ${iface}"`,
    `  }`,
    `  chain output {`,
    `    type filter hook output priority -10; policy accept;`,
    `    udp sport ${port} oifname != ${q} counter drop comment "ltsp-ts full DHCP: only ${iface}"`,
    `  }`,
    `}`,
    '',
  ].join('\n');
}

type Json = Record<string, unknown>;

/** True when `nft -j list table inet ltsp_ts_dhcp_guard` output holds both drop rules for `iface`. */
export function nftGuardPresent(json: string, iface: string, port = 67): boolean {
  let doc: { nftables?: Json[] };
  try {
    doc = JSON.parse(json) as { nftables?: Json[] };
  } catch {
    return false;
  }
  const items = doc.nftables ?? [];
  const chains = new Map<string, Json>();
  for (const it of items) {
    const c = it.chain as Json | undefined;
    if (c && c.table === NFT_TABLE && c.family === 'inet') chains.set(String(c.name), c);
  }
  const hasRule = (chain: string, hook: string, metaKey: string, field: string) => {
    const c = chains.get(chain);
    if (!c || c.hook !== hook || c.type !== 'filter') return false;
    return items.some((it) => {
      const r = it.rule as Json | undefined;
      if (!r || r.table !== NFT_TABLE || r.chain !== chain || r.family !== 'inet') return false;
      const expr = (r.expr as Json[] | undefined) ?? [];
      const ifMatch = expr.some((e) => {
        const m = e.match as Json | undefined;
        return m?.op === '!=' && (m.left as Json | undefined)?.meta !== undefined && ((m.left as Json).meta as Json).key === metaKey && m.right === iface;
      });
      const portMatch = expr.some((e) => {
        const m = e.match as Json | undefined;
        const p = (m?.left as Json | undefined)?.payload as Json | undefined;
        return m?.op === '==' && p?.protocol === 'udp' && p.field === field && m.right === port;
      });
      return ifMatch && portMatch && expr.some((e) => 'drop' in e);
    });
  };
  return hasRule('input', 'input', 'iifname', 'dport') && hasRule('output', 'output', 'oifname', 'sport');
}

/** Non-loopback interfaces with an IPv4 address. */
export function otherIPv4Interfaces(lan: string, nets: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  return Object.entries(nets)
    .filter(([name, addrs]) => name !== lan && (addrs ?? []).some((a) => a.family === 'IPv4' && !a.internal))
    .map(([name, addrs]) => `${name} ${(addrs ?? []).find((a) => a.family === 'IPv4')!.address}`);
}

/** systemd's RestrictNetworkInterfaces= value guards `lan` when it is an allow-list of lan (and lo). */
export function systemdRestrictionGuards(value: string, lan: string): boolean {
  const v = value.trim();
  if (v === '' || v.startsWith('~')) return false;
  const names = v.split(/\s+/);
  return names.includes(lan) && names.every((n) => n === lan || n === 'lo');
}

/** The unit this process runs in, from /proc/self/cgroup (`0::/system.slice/ltsp-ts.service`). */
export function unitFromCgroup(text: string): string | undefined {
  const m = /\/([^/\n]+\.service)(\/|$)/m.exec(text);
  return m?.[1];
}

/** CAP_NET_ADMIN (bit 12) in the effective set, from /proc/self/status. */
export function hasNetAdmin(status: string): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/im.exec(status);
  return m ? (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n : false;
}

// ------------------------------------------------------------------ I/O

function run(cmd: string, args: string[], input?: string): Promise<{ ok: boolean; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 5000, maxBuffer: 4 << 20 }, (e, out, err) => resolve({ ok: !e, out: String(out), err: String(err || (e ? e.message : '')) }));
    if (input !== undefined) child.stdin?.end(input);
  });
}

const NFT_CANDIDATES = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'];

async function findNft(): Promise<string | undefined> {
  for (const p of NFT_CANDIDATES) {
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p;
  }
  return undefined;
}

async function nftGuard(lan: string, port: number, warn: (msg: string) => void): Promise<Guard | string> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  if (!hasNetAdmin(status)) return 'nftables: no CAP_NET_ADMIN';
  const nft = await findNft();
  if (!nft) return 'nftables: the nft tool is not installed (Debian package nftables)';
  const install = async (): Promise<string | undefined> => {
    const r = await run(nft, ['-f', '-'], nftGuardScript(lan, port));
    if (!r.ok) return `nftables: installing table inet ${NFT_TABLE} failed: ${r.err.trim()}`;
    return verify();
  };
  const verify = async (): Promise<string | undefined> => {
    const r = await run(nft, ['-j', 'list', 'table', 'inet', NFT_TABLE]);
    if (!r.ok) return `nftables: table inet ${NFT_TABLE} is missing (${r.err.trim()})`;
    return nftGuardPresent(r.out, lan, port) ? undefined : `nftables: table inet ${NFT_TABLE} does not hold the expected rules`;
  };
  // The monitor starts before the install, whose own events then prove it is listening.
  const monitor = startNftMonitor(nft, warn);
  const problem = await install();
  if (problem) {
    monitor.stop();
    return problem;
  }
  const live = await monitor.ready(3000);
  if (live) {
    // The install's own events (once the monitor has been quiet for a moment) are covered by
    // one more verify after them; any later one is news.
    await monitor.quiet(100, 1000);
    monitor.forget();
    const p = await verify();
    if (p) {
      monitor.stop();
      return p;
    }
  }
  return {
    kind: 'nftables',
    describe: `nftables table inet ${NFT_TABLE}: UDP ${port} in/out only on ${lan}${live ? ' (watched with nft monitor)' : ''}`,
    watch: (changed) => monitor.watch(changed),
    async check() {
      const p = await verify();
      if (!p) return undefined;
      // Someone flushed the ruleset (firewall reload): put it back, and say so.
      const again = await install();
      if (!again) warn(`${p}; installed it again`);
      return again;
    },
    async close() {
      monitor.stop();
      await run(nft, ['delete', 'table', 'inet', NFT_TABLE]);
    },
  };
}

/**
 * A long-lived `nft monitor ruleset`: every line naming our table is a change to re-verify
 * (nft prints one line per table, chain, rule added or deleted; `flush ruleset` deletes
 * each table by name). Counters do not show up, so a quiet ruleset costs nothing.
 */
function startNftMonitor(nft: string, warn: (msg: string) => void) {
  let listener: (() => void) | undefined;
  let missed = false;
  let seen = false;
  let alive = true;
  let stopping = false;
  let onSeen: (() => void) | undefined;
  let lastLine = 0;
  // Wrapped in sh so that nft ends with us even after a SIGKILL: sh kills it when its
  // stdin (our pipe) closes, and exits when nft does.
  const script = 'exec 3<&0; "$0" monitor ruleset </dev/null & n=$!; { read _; kill $n; } <&3 2>/dev/null & r=$!; wait $n; s=$?; kill $r 2>/dev/null; exit $s';
  const child = spawn('/bin/sh', ['-c', script, nft], { stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdin!.on('error', () => {}); // EPIPE once sh is gone: nothing to do
  child.stdout!.on('error', () => {});
  const fire = () => {
    if (listener) listener();
    else missed = true;
  };
  let tail = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    const lines = (tail + d).split('\n');
    tail = lines.pop() ?? '';
    if (!lines.some((l) => l.includes(NFT_TABLE))) return;
    lastLine = performance.now();
    if (!seen) {
      seen = true;
      onSeen?.();
    }
    fire();
  });
  const gone = (why: string) => {
    if (!alive) return;
    alive = false;
    if (!stopping) {
      warn(`nft monitor ${why}; checking every few seconds instead`);
      fire();
    }
  };
  child.on('error', (e) => gone(`failed: ${e.message}`));
  child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
  return {
    /** True once the monitor reported our own install (it is listening), false after `ms`. */
    ready(ms: number): Promise<boolean> {
      if (seen || !alive) return Promise.resolve(seen && alive);
      return new Promise<boolean>((resolve) => {
        const t = setTimeout(() => {
          onSeen = undefined;
          warn(`nft monitor reported nothing in ${ms} ms; checking every few seconds instead`);
          stop();
          resolve(false);
        }, ms);
        onSeen = () => {
          clearTimeout(t);
          resolve(alive);
        };
      });
    },
    watch(changed: () => void) {
      listener = changed;
      if (missed) {
        missed = false;
        changed();
      }
      return { live: () => alive && seen };
    },
    /** Resolves once no line came for `ms` (at most `max` ms). */
    async quiet(ms: number, max: number): Promise<void> {
      const until = performance.now() + max;
      while (alive && performance.now() < until && performance.now() - lastLine < ms) await new Promise((r) => setTimeout(r, ms / 4));
    },
    /** Drop the changes reported so far (they were verified). */
    forget() {
      missed = false;
    },
    stop,
  };
  function stop() {
    stopping = true;
    alive = false;
    child.stdin!.end(); // sh kills nft and exits
  }
}

async function systemdGuard(lan: string): Promise<Guard | string> {
  const unit = unitFromCgroup(await readFile('/proc/self/cgroup', 'utf8').catch(() => ''));
  if (!unit || !process.env.INVOCATION_ID) return 'systemd: not running as a systemd service';
  const verify = async () => {
    const r = await run('systemctl', ['show', '--property=RestrictNetworkInterfaces', '--value', unit]);
    if (!r.ok) return `systemd: cannot read ${unit}'s RestrictNetworkInterfaces (${r.err.trim()})`;
    return systemdRestrictionGuards(r.out, lan) ? undefined : `systemd: ${unit} has RestrictNetworkInterfaces='${r.out.trim()}', not an allow-list of ${lan}`;
  };
  const p = await verify();
  if (p) return p;
  return { kind: 'systemd', describe: `systemd ${unit}: RestrictNetworkInterfaces=${lan}`, check: verify, close: async () => {} };
}

function singleInterfaceGuard(lan: string, nets: () => NodeJS.Dict<NetworkInterfaceInfo[]>): Guard | string {
  const verify = () => {
    const others = otherIPv4Interfaces(lan, nets());
    return others.length ? `single interface: the host also has ${others.join(', ')}` : undefined;
  };
  const p = verify();
  if (p) return p;
  return { kind: 'single-interface', describe: `${lan} is the only IPv4 interface (re-checked every few seconds)`, check: async () => verify(), close: async () => {} };
}

export interface GuardOptions {
  lan: string;
  mode: GuardMode;
  port?: number;
  /** For tests: the interface list. */
  nets?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Told when a check had to repair the guard (nftables table put back). */
  warn?: (msg: string) => void;
}

/** Sets up the first guard that holds (in `auto`: nftables, systemd, single interface), or throws GuardError. */
export async function startGuard(o: GuardOptions): Promise<Guard> {
  const port = o.port ?? 67;
  if (o.mode === 'none') return { kind: 'none', describe: 'NO multi-NIC guard (tests only)', check: async () => undefined, close: async () => {} };
  const nets = o.nets ?? (() => networkInterfaces());
  const tries: (() => Promise<Guard | string> | Guard | string)[] = [];
  if (o.mode === 'auto' || o.mode === 'nftables') tries.push(() => nftGuard(o.lan, port, o.warn ?? (() => {})));
  if (o.mode === 'auto' || o.mode === 'systemd') tries.push(() => systemdGuard(o.lan));
  if (o.mode === 'auto' || o.mode === 'single-interface') tries.push(() => singleInterfaceGuard(o.lan, nets));
  const why: string[] = [];
  for (const t of tries) {
    const g = await t();
    if (typeof g !== 'string') return g;
    why.push(g);
  }
  throw new GuardError(
    `full DHCP mode on ${o.lan}: refusing to start, nothing guarantees that clients on other networks are never answered (${why.join('; ')}). ` +
      `Fix one of: run ltsp-ts with CAP_NET_ADMIN and the nft tool (apt-get install nftables; systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN) so it installs its nftables guard; ` +
      `or run it as a systemd service with RestrictNetworkInterfaces=${o.lan} lo; ` +
      `or serve from a host whose only IPv4 interface is ${o.lan}.`,
  );
}
