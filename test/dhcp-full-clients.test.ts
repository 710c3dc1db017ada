/**
 * Full DHCP mode against real Debian DHCP clients in network namespaces: busybox udhcpc and
 * ISC dhclient get leases from ltsp-ts, renew (unicast), rebind (broadcast, after we block
 * their unicast to the server), release; a reserved MAC gets its ltsp.conf IP and
 * HOSTNAME; no two clients share an address. Leases are 16 s (busybox keeps at least 16 s) so T1/T2 come after 8 and 14 s.
 *
 *   [c1 udhcpc] [c2 dhclient] [c3 udhcpc, reserved]
 *         \          |          /
 *          [sw: bridge br0]----[srv: lan0 192.168.67.1/24, ltsp-ts full mode]
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseJournal } from '../src/dhcp/full/lease-journal.js';
import { ROOT, Topology, exited, netnsAvailable, sh, waitFor } from './dhcp-full-netns.js';

const ok = netnsAvailable() && existsSync('/usr/sbin/dhclient') && existsSync('/bin/busybox');
const MAC = { c1: '02:fd:00:00:00:01', c2: '02:fd:00:00:00:02', c3: '02:fd:00:00:00:03' };

describe.skipIf(!ok)('full DHCP with real clients (udhcpc, dhclient)', () => {
  const topo = new Topology();
  let dir: string;
  let srvNs: string;
  let ns: Record<'c1' | 'c2' | 'c3', string>;
  let server: Awaited<ReturnType<Topology['server']>>;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ltsp-ts-fullc-'));
    const sw = topo.bridge('sw');
    srvNs = topo.ns('srv');
    topo.plug(sw, srvNs, 'lan0', { addr: '192.168.67.1/24' });
    ns = { c1: topo.ns('c1'), c2: topo.ns('c2'), c3: topo.ns('c3') };
    for (const c of ['c1', 'c2', 'c3'] as const) topo.plug(sw, ns[c], 'eth0', { mac: MAC[c] });
    await writeFile(path.join(dir, 'ltsp.conf'), `[server]\nDHCP_RANGE=192.168.67.20,192.168.67.250,16\nDNS_SERVER=\"192.168.67.1 9.9.9.9\"\n[${MAC.c3}]\nIP=192.168.67.77\nHOSTNAME=pc77\n`);
    // Client scripts: log what the client was told, configure the address (renewals are unicast).
    await writeFile(
      path.join(dir, 'udhcpc.sh'),
      `#!/bin/sh\necho "$1 ip=$ip mask=$mask lease=$lease serverid=$serverid router=$router dns=$dns hostname=$hostname" >> "$LOG"\ncase "$1" in bound|renew) ip addr replace "$ip/$mask" dev "$interface";; deconfig) ip addr flush dev "$interface";; esac\n`,
    );
    await writeFile(
      path.join(dir, 'dhclient.sh'),
      // dhclient runs its script with a clean environment: the log path is written in.
      `#!/bin/sh\nLOG=${path.join(dir, 'c2.log')}\necho "$reason ip=$new_ip_address mask=$new_subnet_mask lease=$new_dhcp_lease_time serverid=$new_dhcp_server_identifier router=$new_routers dns=$new_domain_name_servers" >> "$LOG"\ncase "$reason" in BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface";; PREINIT) ip link set "$interface" up;; esac\n`,
    );
    // dhclient waits 10 s before its first retransmission by default: longer than our leases.
    await writeFile(path.join(dir, 'dhclient.conf'), 'initial-interval 1;\nbackoff-cutoff 2;\n');
    await chmod(path.join(dir, 'udhcpc.sh'), 0o755);
    await chmod(path.join(dir, 'dhclient.sh'), 0o755);
    server = await topo.server(srvNs, ['--config', path.join(dir, 'ltsp.conf'), '--lease-file', path.join(dir, 'leases.journal'), '--log-level', 'debug']);
  }, 30_000);

  afterAll(async () => {
    await topo.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  const log = async (name: string) => (existsSync(path.join(dir, name)) ? await readFile(path.join(dir, name), 'utf8') : '');
  const lines = async (name: string, re: RegExp) => (await log(name)).split('\n').filter((l) => re.test(l));
  /** Lines of the server's log (pino JSON) for one MAC. */
  const serverLines = (mac: string) =>
    server
      .err()
      .split('\n')
      .filter((l) => l.includes(mac))
      .map((l) => JSON.parse(l) as { state?: string; decision?: string; reason?: string; ip?: string });

  test('udhcpc and dhclient: lease, renew (unicast), rebind (broadcast), release; reserved MAC; no shared address', async () => {
    const env = (name: string) => ['env', `LOG=${path.join(dir, name)}`];
    const u1 = topo.spawn(ns.c1, 'env', [...env('c1.log').slice(1), 'busybox', 'udhcpc', '-f', '-i', 'eth0', '-s', path.join(dir, 'udhcpc.sh'), '-t', '10', '-T', '1', '-A', '1']);
    const d2 = topo.spawn(ns.c2, 'env', [...env('c2.log').slice(1), 'dhclient', '-4', '-d', '-v', '-sf', path.join(dir, 'dhclient.sh'), '-lf', path.join(dir, 'c2.leases'), '-pf', path.join(dir, 'c2.pid'), '-cf', path.join(dir, 'dhclient.conf'), 'eth0']);
    const u3 = topo.spawn(ns.c3, 'env', [...env('c3.log').slice(1), 'busybox', 'udhcpc', '-f', '-q', '-i', 'eth0', '-s', path.join(dir, 'udhcpc.sh'), '-t', '10', '-T', '1']);

    /** What the clients and the server said, for failure messages. */
    const diag = () => ['c1.log', 'c2.log', 'c3.log'].map((f) => `${f}: ${existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : '(none)'}`).join('\n') + `\nserver: ${server.err().split('\n').slice(-30).join('\n')}\nu3: ${u3.err()}`;
    const bound1 = (await pollLines(() => lines('c1.log', /^bound /), 30_000, diag))[0];
    expect(bound1).toMatch(/ip=192\.168\.67\.(2\d|[3-9]\d|1\d\d|2[0-4]\d|250) mask=24 lease=16 serverid=192\.168\.67\.1 router=192\.168\.67\.1 dns=192\.168\.67\.1 9\.9\.9\.9/);
    const bound3 = (await pollLines(() => lines('c3.log', /^bound /), 30_000, diag))[0];
    expect(bound3).toMatch(/ip=192\.168\.67\.77 .*hostname=pc77/);
    const bound2 = await pollLines(() => lines('c2.log', /^BOUND /), 30_000, () => `dhclient: ${d2.err()}\n${diag()}`);
    expect(bound2[0]).toMatch(/ip=192\.168\.67\.\d+ mask=255\.255\.255\.0 lease=16 serverid=192\.168\.67\.1 router=192\.168\.67\.1/);
    const ip = (l: string) => /ip=(\S+)/.exec(l)![1];
    expect(new Set([ip(bound1!), ip(bound2[0]!), ip(bound3!)]).size).toBe(3);

    // RENEWING: after T1 (8 s) both renew by unicast to 192.168.67.1.
    await pollLines(() => lines('c1.log', /^renew /), 25_000, diag);
    await pollLines(() => lines('c2.log', /^RENEW /), 25_000, diag);
    // The server's JSON log reaches stderr in batches (up to 200 ms later: src/log.ts).
    await waitFor('RENEWING acks in the server log', () => [MAC.c1, MAC.c2].every((m) => serverLines(m).some((l) => l.state === 'RENEWING' && l.decision === 'ack')), 5_000, 100);

    const renewedBefore = (await lines('c2.log', /^(RENEW|REBIND) /)).length;
    // REBINDING: unicast to the server is dropped in the clients' namespaces; after T2 they broadcast.
    for (const c of [ns.c1, ns.c2]) sh('ip', ['netns', 'exec', c, 'nft', '-f', '-'], 'table inet blk {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip daddr 192.168.67.1 udp dport 67 drop\n }\n}\n');
    await waitFor('REBINDING acks for both clients', () => serverLines(MAC.c1).some((l) => l.state === 'REBINDING' && l.decision === 'ack') && serverLines(MAC.c2).some((l) => l.state === 'REBINDING' && l.decision === 'ack'), 25_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}\nserver: ${JSON.stringify([...serverLines(MAC.c1), ...serverLines(MAC.c2)].map((l) => [l.state, l.decision, l.reason]))}\nc1: ${readFileSync(path.join(dir, 'c1.log'), 'utf8')}\nc2: ${readFileSync(path.join(dir, 'c2.log'), 'utf8')}`);
    });
    // dhclient reports the broadcast renewal as RENEW or REBIND depending on its timer state.
    await pollLines(async () => ((await lines('c2.log', /^(RENEW|REBIND) /)).length > renewedBefore ? ['ok'] : []), 5_000, () => readFileSync(path.join(dir, 'c2.log'), 'utf8'));
    // Same address throughout.
    for (const l of await lines('c1.log', /^(bound|renew) /)) expect(ip(l)).toBe(ip(bound1!));
    for (const l of await lines('c2.log', /^(BOUND|RENEW|REBIND) /)) expect(ip(l)).toBe(ip(bound2[0]!));

    // RELEASE: udhcpc on SIGUSR2, dhclient -r; both end up in the journal as free records.
    for (const c of [ns.c1, ns.c2]) sh('ip', ['netns', 'exec', c, 'nft', 'delete', 'table', 'inet', 'blk']);
    u1.kill('SIGUSR2');
    d2.kill('SIGKILL');
    sh('ip', ['netns', 'exec', ns.c2, 'dhclient', '-4', '-r', '-sf', path.join(dir, 'dhclient.sh'), '-lf', path.join(dir, 'c2.leases'), '-pf', path.join(dir, 'c2.pid'), '-cf', path.join(dir, 'dhclient.conf'), 'eth0']);
    await waitFor('both releases', () => serverLines(MAC.c1).some((l) => /^released/.test(l.reason ?? '')) && serverLines(MAC.c2).some((l) => /^released/.test(l.reason ?? '')), 10_000, 100);
    const recs = parseJournal(await readFile(path.join(dir, 'leases.journal'), 'utf8')).records;
    expect(recs.filter((r) => r.op === 'free').map((r) => r.ip).sort()).toEqual([ip(bound1!), ip(bound2[0]!)].sort());
    expect(recs.some((r) => r.op === 'bind' && r.ip === '192.168.67.77' && r.mac === MAC.c3)).toBe(true);
    u1.kill('SIGTERM');
  }, 120_000);

  test('ltsp-ts serve --dhcp-mode full --dhcp-range --lease-file (the CLI) leases too', async () => {
    server.kill('SIGTERM');
    expect(await exited(server, 10_000)).toBe(0);
    const cli = topo.spawn(srvNs, process.execPath, [path.join(ROOT, 'bin', 'ltsp-ts.js'), 'serve', '--config', path.join(dir, 'ltsp.conf'), '--dhcp-mode', 'full', '--dhcp-range', '192.168.67.100,192.168.67.110,1h', '--lease-file', path.join(dir, 'cli.journal'), '--no-tftp', '--no-http']);
    await waitFor('serve to start', () => cli.err().includes('dhcp full: serving lan0') || cli.exitCode !== null, 20_000);
    expect(cli.err()).toMatch(/multi-NIC guard: nftables table inet ltsp_ts_dhcp_guard/);
    const u = topo.spawn(ns.c1, 'env', [`LOG=${path.join(dir, 'c1-cli.log')}`, 'busybox', 'udhcpc', '-f', '-q', '-i', 'eth0', '-s', path.join(dir, 'udhcpc.sh'), '-t', '10', '-T', '1']);
    const r = topo.spawn(ns.c3, 'env', [`LOG=${path.join(dir, 'c3-cli.log')}`, 'busybox', 'udhcpc', '-f', '-q', '-i', 'eth0', '-s', path.join(dir, 'udhcpc.sh'), '-t', '10', '-T', '1']);
    await Promise.all([exited(u, 20_000), exited(r, 20_000)]);
    expect((await lines('c1-cli.log', /^bound /))[0]).toMatch(/ip=192\.168\.67\.1(0\d|10) mask=24 lease=3600 serverid=192\.168\.67\.1/);
    expect((await lines('c3-cli.log', /^bound /))[0]).toMatch(/ip=192\.168\.67\.77 .*hostname=pc77/);
    cli.kill('SIGTERM');
    expect(await exited(cli, 15_000)).toBe(0);
  }, 60_000);
});

async function pollLines(fn: () => Promise<string[]>, ms: number, context?: () => string): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const l = await fn();
    if (l.length) return l;
    if (Date.now() > end) throw new Error(`timed out waiting for a client log line${context ? `\n${context()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
