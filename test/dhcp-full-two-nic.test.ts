/**
 * LTSP's dual-NIC setup in network namespaces: the server has lan0 (192.168.67.1/24, full
 * DHCP by ltsp-ts) and wan0 (10.55.0.2/24, facing the school network whose router runs its
 * own DHCP server, Debian's dnsmasq). Proves the multi-NIC guard:
 *  - a LAN client gets its lease from ltsp-ts with option 54 = 192.168.67.1;
 *  - a WAN client gets its lease from the router, and tcpdump on the WAN client sees no
 *    packet at all from the server's WAN card (its MAC or addresses), even when the WAN
 *    client sends a DHCPINFORM straight to the server's WAN address;
 *  - the guard's own drop counter shows it dropped the WAN side's DHCP packets; with the
 *    guard off (`none`, tests only) the in-process source check still drops the INFORM;
 *  - the guard's nftables table, deleted by hand, is put back at once (nft monitor reports it);
 *  - with a guard that cannot hold (single-interface on a two-NIC host) ltsp-ts refuses to
 *    start and says how to fix it.
 *
 *   [lcl]--[lansw]--lan0 [srv] wan0--[wansw]--[rtr: dnsmasq 10.55.0.1]
 *                                        \\--[wcl: udhcpc + tcpdump]
 */
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { NFT_TABLE } from '../src/dhcp/full/guard.js';
import { SIM_SCRIPT, Topology, exited, netnsAvailable, sh, waitFor } from './dhcp-full-netns.js';

const ok = netnsAvailable() && existsSync('/usr/sbin/dnsmasq') && existsSync('/usr/bin/tcpdump') && existsSync('/usr/bin/tshark');

describe.skipIf(!ok)('full DHCP on a two-NIC server', () => {
  const topo = new Topology();
  let dir: string;
  let ns: Record<'srv' | 'rtr' | 'wcl' | 'lcl', string>;
  let wanMac: string;
  let conf: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ltsp-ts-full2-'));
    const lansw = topo.bridge('lansw');
    const wansw = topo.bridge('wansw');
    ns = { srv: topo.ns('srv'), rtr: topo.ns('rtr'), wcl: topo.ns('wcl'), lcl: topo.ns('lcl') };
    topo.plug(lansw, ns.srv, 'lan0', { addr: '192.168.67.1/24' });
    topo.plug(wansw, ns.srv, 'wan0', { addr: '10.55.0.2/24' });
    topo.plug(wansw, ns.rtr, 'rtr0', { addr: '10.55.0.1/24' });
    topo.plug(wansw, ns.wcl, 'eth0', { mac: '02:fd:00:00:01:01' });
    topo.plug(lansw, ns.lcl, 'eth0', { mac: '02:fd:00:00:02:01' });
    wanMac = JSON.parse(sh('ip', ['-n', ns.srv, '-j', 'link', 'show', 'wan0']))[0].address as string;
    topo.spawn(ns.rtr, 'dnsmasq', ['--keep-in-foreground', '--conf-file=/dev/null', '--no-hosts', '--no-resolv', '--port=0', '--interface=rtr0', '--bind-interfaces', `--dhcp-range=10.55.0.100,10.55.0.150,255.255.255.0,1h`, '--dhcp-option=option:router,10.55.0.1', `--dhcp-leasefile=${path.join(dir, 'router.leases')}`, '--dhcp-authoritative', '--no-ping', `--pid-file=${path.join(dir, 'router.pid')}`]);
    conf = path.join(dir, 'ltsp.conf');
    await writeFile(conf, '[server]\nDHCP_MODE=full\n'); // no DHCP_RANGE: LTSP's default pool on the 192.168.67.x card
    await writeFile(path.join(dir, 'udhcpc.sh'), `#!/bin/sh\necho "$1 ip=$ip serverid=$serverid router=$router" >> "$LOG"\ncase "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; esac\n`);
    await chmod(path.join(dir, 'udhcpc.sh'), 0o755);
  }, 30_000);

  afterAll(async () => {
    await topo.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const udhcpc = (n: string, log: string) => topo.spawn(n, 'env', [`LOG=${path.join(dir, log)}`, 'busybox', 'udhcpc', '-f', '-q', '-i', 'eth0', '-s', path.join(dir, 'udhcpc.sh'), '-t', '8', '-T', '1']);
  const bound = (log: string) => (existsSync(path.join(dir, log)) ? readFileSync(path.join(dir, log), 'utf8').split('\n').find((l) => l.startsWith('bound ')) : undefined);
  const inform = async (): Promise<{ reply: string | null; serverId: string | null }> => {
    const p = topo.spawn(ns.wcl, process.execPath, [SIM_SCRIPT, 'inform', '--target', '10.55.0.2', '--ciaddr', wanIp, '--timeout-ms', '1500']);
    await exited(p, 10_000);
    return JSON.parse(p.out().trim()) as { reply: string | null; serverId: string | null };
  };
  let wanIp = '';

  test('a guard that cannot hold: refuses to start, says how to fix', async () => {
    const p = topo.spawn(ns.srv, process.execPath, [path.join(path.dirname(SIM_SCRIPT), 'dhcp-full-server.mjs'), '--config', conf, '--lease-file', path.join(dir, 'refused.journal'), '--guard', 'single-interface']);
    expect(await exited(p, 15_000)).toBe(2);
    expect(p.err()).toMatch(/full DHCP mode on lan0: refusing to start/);
    expect(p.err()).toMatch(/wan0 10\.55\.0\.2/);
    expect(p.err()).toMatch(/CAP_NET_ADMIN|RestrictNetworkInterfaces/);
  }, 20_000);

  test('LAN client leased by ltsp-ts (option 54 = LAN address); WAN sees nothing from ltsp-ts', async () => {
    const pcap = path.join(dir, 'wan.pcap');
    const dump = topo.spawn(ns.wcl, 'tcpdump', ['-i', 'eth0', '-n', '-U', '-w', pcap, 'udp port 67 or udp port 68']);
    await waitFor('tcpdump to start', () => /listening on/.test(dump.err()), 10_000);
    const server = await topo.server(ns.srv, ['--config', conf, '--lease-file', path.join(dir, 'leases.journal')]);
    expect(server.ready).toMatchObject({ iface: 'lan0', address: '192.168.67.1', guard: 'nftables' });

    const w = udhcpc(ns.wcl, 'wcl.log');
    const l = udhcpc(ns.lcl, 'lcl.log');
    await Promise.all([exited(w, 20_000), exited(l, 20_000)]);
    expect(bound('lcl.log')).toMatch(/^bound ip=192\.168\.67\.(\d+) serverid=192\.168\.67\.1 router=192\.168\.67\.1$/);
    const n = Number(/192\.168\.67\.(\d+) /.exec(bound('lcl.log')!)![1]);
    expect(n >= 20 && n <= 250).toBe(true);
    expect(bound('wcl.log')).toMatch(/^bound ip=10\.55\.0\.1\d\d serverid=10\.55\.0\.1 router=10\.55\.0\.1$/);
    wanIp = /ip=(\S+)/.exec(bound('wcl.log')!)![1]!;

    // A WAN host talking to the server's WAN address directly: dropped by the guard.
    expect(await inform()).toEqual({ reply: null, serverId: null });
    const table = sh('ip', ['netns', 'exec', ns.srv, 'nft', 'list', 'table', 'inet', NFT_TABLE]);
    const dropped = [...table.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
    expect(dropped[0]).toBeGreaterThan(0); // the WAN client's broadcasts and the INFORM

    // A firewall reload that drops our table: nft monitor reports it, the check puts it back and says so.
    sh('ip', ['netns', 'exec', ns.srv, 'nft', 'delete', 'table', 'inet', NFT_TABLE]);
    await waitFor('the guard to be re-installed', () => server.err().includes('installed it again'), 12_000, 200);
    expect(server.err()).toContain('(watched with nft monitor)');
    expect(sh('ip', ['netns', 'exec', ns.srv, 'nft', 'list', 'table', 'inet', NFT_TABLE])).toContain('iifname != "lan0"');

    server.kill('SIGTERM');
    expect(await exited(server, 10_000)).toBe(0);
    // Clean stop removes the guard table.
    expect(() => sh('ip', ['netns', 'exec', ns.srv, 'nft', 'list', 'table', 'inet', NFT_TABLE])).toThrow();
    await new Promise((r) => setTimeout(r, 300));
    dump.kill('SIGINT');
    await exited(dump, 5000);
    const rows = sh('tshark', ['-r', pcap, '-T', 'fields', '-e', 'eth.src', '-e', 'ip.src', '-e', 'ip.dst']).trim().split('\n').filter(Boolean);
    expect(rows.length).toBeGreaterThan(2); // the WAN client's own exchange with the router is there
    for (const row of rows) {
      const [src, ipSrc] = row.split('\t');
      expect(src, row).not.toBe(wanMac);
      expect(['10.55.0.2', '192.168.67.1'], row).not.toContain(ipSrc);
    }
  }, 60_000);

  test('without the guard (tests only) the in-process check still drops the WAN INFORM, and says so', async () => {
    expect(wanIp).not.toBe('');
    const server = await topo.server(ns.srv, ['--config', conf, '--lease-file', path.join(dir, 'leases.journal'), '--guard', 'none', '--log-level', 'debug']);
    try {
      expect(await inform()).toEqual({ reply: null, serverId: null });
      expect(server.err()).toContain(`dropped a packet from ${wanIp}:68: not on lan0's subnet`);
    } finally {
      server.kill('SIGTERM');
      await exited(server, 10_000);
    }
  }, 30_000);
});
