/**
 * proxyDHCP on a real (virtual) LAN, in network namespaces made here (prefix lt-dh-):
 *
 *   switch ns: bridges bra (LAN A) and brb (LAN B)
 *   srv ns:    srv0 192.168.91.1/24 on LAN A, srv1 192.168.92.1/24 on LAN B — ltsp-ts
 *   rtr ns:    192.168.91.254 on LAN A — Debian's dnsmasq as the LAN router (leases only)
 *   cla ns:    a PXE client on LAN A;  clb ns: a PXE client on LAN B
 *
 * The clients replay OVMF's DISCOVER and PXE-port REQUEST from pcap-fixtures/ (ciaddr set
 * to the lease the router gave). Checks: our OFFER arrives on the client port with option
 * 54 = the server's address on that LAN, the ACK comes from port 4011 to port 4011, tshark
 * captures them on the client's link and decodes them without warnings; with only srv0
 * served, LAN B hears nothing from ltsp-ts; with both served, each LAN gets its own
 * option 54. Needs root, ip, dnsmasq and tshark; without them the test fails loudly
 * rather than skipping silently (set LTSP_TS_SKIP_NETNS=1 to skip it on purpose).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeDhcp, encodeDhcp, getOption, readIp, readString, typedOptions } from '../protocols/dhcp/index.js';
import { readCapture } from '../protocols/pcap/index.js';

const root = join(import.meta.dirname, '..');
const skip = process.env.LTSP_TS_SKIP_NETNS === '1';
const id = `lt-dh-${process.pid % 100000}`;
const NS = { sw: `${id}-sw`, srv: `${id}-srv`, rtr: `${id}-rtr`, cla: `${id}-cla`, clb: `${id}-clb` };
const SRV_A = '192.168.91.1';
const SRV_B = '192.168.92.1';
const RTR = '192.168.91.254';
const work = mkdtempSync(join(tmpdir(), 'ltsp-ts-dhcp-netns-'));
const started: ChildProcess[] = [];

function sh(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 40_000, stdio: ['ignore', 'pipe', 'pipe'] });
}
const nsx = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args);

/** Client packets from a real OVMF capture: the port-67 DISCOVER and the PXE-port REQUEST. */
function fixturePackets(): { discover: string; request: string } {
  const cap = readCapture(readFileSync(join(root, 'pcap-fixtures', 'uefi-virtio-ovmfpxe-snponly.pcapng')));
  const discover = cap.packets.find((p) => p.frame === 1)!;
  const request = cap.packets.find((p) => p.frame === 6)!;
  expect(discover.dstPort).toBe(67);
  expect(request.dstPort).toBe(4011);
  return { discover: discover.payload.toString('hex'), request: request.payload.toString('hex') };
}

function topologyUp(): void {
  for (const ns of Object.values(NS)) {
    sh('ip', 'netns', 'add', ns);
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
  }
  for (const br of ['bra', 'brb']) {
    sh('ip', '-n', NS.sw, 'link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    sh('ip', '-n', NS.sw, 'link', 'set', br, 'up');
  }
  const wire = (ns: string, dev: string, port: string, br: string, mac?: string) => {
    sh('ip', 'link', 'add', dev, 'netns', ns, ...(mac ? ['address', mac] : []), 'type', 'veth', 'peer', 'name', port, 'netns', NS.sw);
    sh('ip', '-n', NS.sw, 'link', 'set', port, 'master', br, 'up');
    sh('ip', '-n', ns, 'link', 'set', dev, 'up');
  };
  wire(NS.srv, 'srv0', 'psa', 'bra');
  wire(NS.srv, 'srv1', 'psb', 'brb');
  wire(NS.rtr, 'rtr0', 'pra', 'bra');
  wire(NS.cla, 'cla0', 'pca', 'bra', MAC.cla0);
  wire(NS.clb, 'clb0', 'pcb', 'brb', MAC.clb0);
  sh('ip', '-n', NS.srv, 'addr', 'add', `${SRV_A}/24`, 'dev', 'srv0');
  sh('ip', '-n', NS.srv, 'addr', 'add', `${SRV_B}/24`, 'dev', 'srv1');
  sh('ip', '-n', NS.rtr, 'addr', 'add', `${RTR}/24`, 'dev', 'rtr0');
  // Clients have no address yet: a route lets them send the limited broadcast from 0.0.0.0.
  sh('ip', '-n', NS.cla, 'route', 'add', 'default', 'dev', 'cla0');
  sh('ip', '-n', NS.clb, 'route', 'add', 'default', 'dev', 'clb0');
}

function topologyDown(): void {
  for (const p of started) if (p.exitCode === null && p.pid) p.kill('SIGKILL');
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns], { timeout: 10_000 });
  rmSync(work, { recursive: true, force: true });
}

/** Start a long-running process in a namespace; resolves when a stdout/stderr line matches `ready`. */
function startIn(ns: string, args: string[], ready: RegExp, logName: string): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(p);
  let log = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${logName} not ready in 15 s:\n${log}`)), 15_000);
    const on = (b: Buffer) => {
      log += b.toString();
      writeFileSync(join(work, `${logName}.log`), log);
      if (ready.test(log)) {
        clearTimeout(t);
        resolve(p);
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.on('exit', (c) => {
      clearTimeout(t);
      reject(new Error(`${logName} exited (${c}):\n${log}`));
    });
  });
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

const SERVER_JS = `
import { startDhcpService } from ${JSON.stringify(join(root, 'dist/src/dhcp/service.js'))};
import { loadConfigText } from ${JSON.stringify(join(root, 'dist/src/config/load.js'))};
import { createLogger } from ${JSON.stringify(join(root, 'dist/src/log.js'))};
const loaded = loadConfigText('', { overrides: JSON.parse(process.argv[2]) });
const svc = await startDhcpService({ loaded, log: createLogger('debug', { pretty: false }) });
console.log('READY ' + JSON.stringify(svc.ports));
process.on('SIGTERM', () => svc.close().then(() => process.exit(0)));
`;

/**
 * A PXE client: DISCOVER broadcast from port 68, collect replies for a while; then (with
 * --request) take the router's lease, add it to the NIC, and send the REQUEST from port
 * 4011 to the proxy's option-54 address on 4011, as OVMF does. Prints one JSON line per reply.
 */
const CLIENT_JS = `
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import * as dhcp from ${JSON.stringify(join(root, 'dist/protocols/dhcp/index.js'))};
const [discoverHex, requestHex, dev, mac, expect] = process.argv.slice(2);
// The fixture's packets, with this client's MAC in chaddr.
const asMe = (hex) => { const p = dhcp.decodeDhcp(Buffer.from(hex, 'hex')); p.chaddr.set(mac.split(':').map((h) => parseInt(h, 16))); return p; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const replies = [];
const listen = (port) => new Promise((r) => {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  s.on('message', (m, ri) => { const line = { to: port, from: ri.address, sport: ri.port, hex: m.toString('hex') }; replies.push(line); console.log(JSON.stringify(line)); });
  s.bind(port, '0.0.0.0', () => { s.setBroadcast(true); r(s); });
});
const s68 = await listen(68);
const decoded = () => replies.map((r) => ({ ...r, p: dhcp.decodeDhcp(Buffer.from(r.hex, 'hex')) }));
const isProxy = (o) => dhcp.readString(dhcp.getOption(o.p, 60))?.startsWith('PXEClient');
/** Bounded wait: until pred() holds (then a short grace period for late duplicates) or maxMs. */
const waitFor = async (pred, maxMs) => {
  for (const end = Date.now() + maxMs; Date.now() < end && !pred(); ) await sleep(20);
  await sleep(300);
};
s68.send(dhcp.encodeDhcp(asMe(discoverHex)), 67, '255.255.255.255');
if (expect === 'nothing') await sleep(2500);
else await waitFor(() => decoded().some(isProxy) && (requestHex === '-' || decoded().some((o) => o.p.yiaddr !== '0.0.0.0')), 10000);
if (requestHex !== '-') {
  const offers = decoded();
  const lease = offers.find((o) => o.p.yiaddr !== '0.0.0.0');
  const proxy = offers.find(isProxy);
  if (!lease || !proxy) { console.log(JSON.stringify({ error: 'no lease or no proxy offer' })); process.exit(0); }
  execFileSync('ip', ['addr', 'add', lease.p.yiaddr + '/24', 'dev', dev]);
  const req = asMe(requestHex);
  req.ciaddr = lease.p.yiaddr;
  const s4011 = await listen(4011);
  const server = dhcp.readIp(dhcp.getOption(proxy.p, 54));
  s4011.send(dhcp.encodeDhcp(req), 4011, server);
  await waitFor(() => replies.some((r) => r.to === 4011), 10000);
}
process.exit(0);
`;

interface Heard {
  to: number;
  from: string;
  sport: number;
  hex: string;
}

const MAC: Record<string, string> = { cla0: '52:54:00:77:00:01', clb0: '52:54:00:77:00:02' };

function runClient(ns: string, dev: string, pk: { discover: string; request: string }, withRequest: boolean, expect: 'proxy' | 'nothing' = 'proxy'): Heard[] {
  const out = nsx(ns, 'node', join(work, 'client.mjs'), pk.discover, withRequest ? pk.request : '-', dev, MAC[dev]!, expect);
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const err = lines.find((l) => l.error);
  if (err) throw new Error(`client: ${err.error}\n${out}`);
  return lines as Heard[];
}

const fromProxy = (h: Heard[]) => h.filter((x) => x.from === SRV_A || x.from === SRV_B);

describe.skipIf(skip)('proxyDHCP in network namespaces with dnsmasq as the LAN router', () => {
  let pk: { discover: string; request: string };

  beforeAll(async () => {
    expect(process.getuid?.(), 'network namespaces need root (LTSP_TS_SKIP_NETNS=1 to skip)').toBe(0);
    for (const tool of ['ip', 'dnsmasq', 'tshark']) expect(spawnSync('sh', ['-c', `command -v ${tool}`]).status, `${tool} is not installed`).toBe(0);
    pk = fixturePackets();
    writeFileSync(join(work, 'server.mjs'), SERVER_JS);
    writeFileSync(join(work, 'client.mjs'), CLIENT_JS);
    topologyUp();
    await startIn(
      NS.rtr,
      ['dnsmasq', '--keep-in-foreground', '--log-facility=-', '--conf-file=/dev/null', '--no-hosts', '--no-resolv', '--port=0', '--interface=rtr0', '--bind-interfaces',
        '--dhcp-range=192.168.91.100,192.168.91.150,255.255.255.0,1h', `--dhcp-option=option:router,${RTR}`, `--dhcp-leasefile=${join(work, 'router.leases')}`,
        '--dhcp-authoritative', '--no-ping', `--pid-file=${join(work, 'router.pid')}`],
      /started|DHCP, IP range/, 'router',
    );
  }, 60_000);

  afterAll(() => topologyDown());

  test('one served NIC: OFFER + ACK on LAN A with option 54 = 192.168.91.1, tshark-clean; nothing on LAN B', async () => {
    const srv = await startIn(NS.srv, ['node', join(work, 'server.mjs'), JSON.stringify({ interfaces: ['srv0'] })], /READY/, 'server-one');
    const cap = join(work, 'lan-a.pcapng');
    const tshark = await startIn(NS.cla, ['tshark', '-i', 'cla0', '-w', cap, '-f', 'udp port 67 or udp port 68 or udp port 4011'], /Capturing on/, 'tshark');
    try {
      const heard = runClient(NS.cla, 'cla0', pk, true);
      const proxy = fromProxy(heard).map((h) => ({ ...h, p: decodeDhcp(Buffer.from(h.hex, 'hex')) }));
      const offer = proxy.find((h) => h.to === 68)!;
      const ack = proxy.find((h) => h.to === 4011)!;
      expect(offer, JSON.stringify(heard)).toBeDefined();
      expect(offer).toMatchObject({ from: SRV_A, sport: 67 });
      expect(typedOptions(offer.p)).toMatchObject({ messageType: 2, serverId: SRV_A, vendorClass: 'PXEClient' });
      expect(offer.p).toMatchObject({ siaddr: SRV_A, file: '', yiaddr: '0.0.0.0' });
      expect(ack, JSON.stringify(heard)).toBeDefined();
      expect(ack).toMatchObject({ from: SRV_A, sport: 4011 });
      expect(typedOptions(ack.p)).toMatchObject({ messageType: 5, serverId: SRV_A });
      expect(ack.p).toMatchObject({ file: 'ltsp/snponly.efi', sname: SRV_A, siaddr: SRV_A });
      // The router leased too (it is the one handing out addresses).
      expect(heard.some((h) => h.from === RTR && decodeDhcp(Buffer.from(h.hex, 'hex')).yiaddr.startsWith('192.168.91.'))).toBe(true);

      const other = runClient(NS.clb, 'clb0', pk, false, 'nothing');
      expect(fromProxy(other), 'LAN B is not served: no reply from ltsp-ts').toEqual([]);
    } finally {
      await stop(tshark);
      await stop(srv);
    }
    // Client B's DISCOVER (LAN B, not served) reached the wildcard socket too: Node cannot
    // see the ingress NIC, so it is answered on LAN A, where no client has that MAC/xid
    // (README, "proxyDHCP on several NICs"). Look at client A's packets.
    const fields = sh('tshark', '-r', cap, '-Y', `ip.src == ${SRV_A} && dhcp.hw.mac_addr == 52:54:00:77:00:01`, '-T', 'fields', '-E', 'separator=|', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'dhcp.option.dhcp', '-e', 'dhcp.option.dhcp_server_id', '-e', 'dhcp.file', '-e', '_ws.malformed', '-e', '_ws.expert.severity');
    const rows = fields.trim().split('\n').map((l) => l.split('|'));
    expect(rows.map((r) => r.slice(0, 5))).toEqual([
      ['67', '68', '2', SRV_A, ''],
      ['4011', '4011', '5', SRV_A, 'ltsp/snponly.efi'],
    ]);
    for (const r of rows) expect(r.slice(5).join(''), 'tshark: no malformed packet, no expert info').toBe('');
  }, 60_000);

  test('both NICs served: each LAN gets the offer with its own option 54', async () => {
    const srv = await startIn(NS.srv, ['node', join(work, 'server.mjs'), JSON.stringify({ interfaces: ['srv0', 'srv1'] })], /READY/, 'server-two');
    try {
      for (const [ns, dev, addr] of [[NS.cla, 'cla0', SRV_A], [NS.clb, 'clb0', SRV_B]] as const) {
        const offers = fromProxy(runClient(ns, dev, pk, false)).map((h) => decodeDhcp(Buffer.from(h.hex, 'hex')));
        expect(offers.length, `${dev}: exactly one proxy offer`).toBe(1);
        expect(readIp(getOption(offers[0]!, 54))).toBe(addr);
        expect(readString(getOption(offers[0]!, 60))).toBe('PXEClient');
        expect(offers[0]!.siaddr).toBe(addr);
        expect(encodeDhcp(offers[0]!).length).toBe(300);
      }
    } finally {
      await stop(srv);
    }
  }, 60_000);
});
