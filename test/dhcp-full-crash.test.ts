/**
 * Crash safety of the lease store: 200 simulated clients (bench/dhcp-full-sim.mjs churn:
 * DORA, unicast RENEWs, RELEASE and a new identity) lease in a loop on a namespace LAN while
 * ltsp-ts's full DHCP service is killed with SIGKILL at random moments and restarted, 20
 * times, with a small compaction threshold so compactions are cut short too. Afterwards:
 *  - no address was acknowledged to two clients at once (client-side ACK intervals per
 *    address, from when the ACK arrived to when the REQUEST was sent + lease, cut at the
 *    client's RELEASE, never overlap between clients);
 *  - after every kill, every client's last acknowledged lease so far (not released) is in
 *    the journal on disk, with an expiry no earlier than the client counts on;
 *  - addresses were really handed from one client to another (the test exercises reuse).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseJournal } from '../src/dhcp/full/lease-journal.js';
import { LeaseTable } from '../src/dhcp/full/lease-table.js';
import { SIM_SCRIPT, Topology, exited, netnsAvailable, sh } from './dhcp-full-netns.js';

const KILLS = 20;
const CLIENTS = 200;
const LEASE = 120;

interface AckEv { ev: 'ack'; mac: string; ip: string; sent: number; recv: number; lease: number }
interface RelEv { ev: 'release'; mac: string; ip: string; t: number }

describe.skipIf(!netnsAvailable())('full DHCP lease store under SIGKILL', () => {
  const topo = new Topology();
  let dir: string;
  let srv: string;
  let cli: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ltsp-ts-fullk-'));
    const sw = topo.bridge('sw');
    srv = topo.ns('srv');
    cli = topo.ns('cli');
    topo.plug(sw, srv, 'lan0', { addr: '192.168.67.1/24' });
    topo.plug(sw, cli, 'eth0', { addr: '192.168.67.2/24' });
    // The simulated clients' addresses live on the client namespace, so unicast ACKs to ciaddr arrive.
    const batch = Array.from({ length: 231 }, (_, i) => `addr add 192.168.67.${20 + i}/32 dev eth0`).join('\n') + '\n';
    sh('ip', ['-n', cli, '-batch', '-'], batch);
    // Limited broadcasts (255.255.255.255) from a plain UDP socket need a route to leave by.
    sh('ip', ['-n', cli, 'route', 'add', 'default', 'dev', 'eth0']);
    await writeFile(path.join(dir, 'ltsp.conf'), `[server]\nDHCP_RANGE=192.168.67.20,192.168.67.250,${LEASE}\n`);
  }, 30_000);

  afterAll(async () => {
    await topo.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  test(`${CLIENTS} clients, ${KILLS} SIGKILLs: no lease lost, no address acknowledged twice`, async () => {
    const journal = path.join(dir, 'leases.journal');
    const args = ['--config', path.join(dir, 'ltsp.conf'), '--lease-file', journal, '--compact-after', '300', '--log-level', 'warn'];
    const events = path.join(dir, 'events.jsonl');
    const sim = topo.spawn(cli, process.execPath, [SIM_SCRIPT, 'churn', '--clients', String(CLIENTS), '--seconds', '90', '--timeout-ms', '400', '--out', events]);
    const readEvents = async () =>
      (await readFile(events, 'utf8').catch(() => ''))
        .split('\n')
        .filter((l) => l.endsWith('}'))
        .map((l) => JSON.parse(l) as AckEv | RelEv);
    /** Every client's last ACK so far that it did not release must be in the journal on disk. */
    const checkStore = async (): Promise<number> => {
      const evs = await readEvents();
      const rels = evs.filter((e): e is RelEv => e.ev === 'release');
      const table = new LeaseTable({ start: '192.168.67.20', end: '192.168.67.250', exclude: [] });
      for (const r of parseJournal(await readFile(journal, 'utf8')).records) table.apply(r);
      const lastAck = new Map<string, AckEv>();
      for (const e of evs) if (e.ev === 'ack') lastAck.set(e.mac, e);
      let n = 0;
      for (const a of lastAck.values()) {
        if (rels.some((r) => r.mac === a.mac && r.ip === a.ip && r.t >= a.recv)) continue;
        const l = table.leaseOf(`mac:${a.mac}`);
        expect(l, `acknowledged lease of ${a.mac} (${a.ip}) is missing from the store`).toBeDefined();
        expect(l!.ip).toBe(a.ip);
        expect(l!.expires).toBeGreaterThanOrEqual(a.sent + a.lease * 1000);
        n++;
      }
      return n;
    };
    let kills = 0;
    let checked = 0;
    for (let i = 0; i <= KILLS; i++) {
      const s = await topo.server(srv, args);
      await new Promise((r) => setTimeout(r, i === KILLS ? 1500 : 150 + Math.random() * 1200));
      s.kill('SIGKILL');
      expect(await exited(s, 5000)).toBe(null); // killed, no exit code
      if (i < KILLS) kills++;
      // While the server is dead the journal is still: check it against what clients were told.
      checked += await checkStore();
    }
    sim.kill('SIGTERM');
    await exited(sim, 20_000);
    expect(kills).toBe(KILLS);
    const summary = JSON.parse(sim.out().trim()) as { acks: number; releases: number };

    const evs = await readEvents();
    const acks = evs.filter((e): e is AckEv => e.ev === 'ack');
    const rels = evs.filter((e): e is RelEv => e.ev === 'release');
    expect(acks.length).toBe(summary.acks);
    expect(acks.length).toBeGreaterThan(1000);
    expect(rels.length).toBeGreaterThan(100);

    // No address acknowledged to two clients at once. Intervals per address:
    // [ACK received, REQUEST sent + lease), cut at the client's RELEASE.
    const byIp = new Map<string, { mac: string; start: number; end: number }[]>();
    for (const a of acks) {
      const rel = rels.find((r) => r.mac === a.mac && r.ip === a.ip && r.t >= a.recv);
      const end = Math.min(a.sent + a.lease * 1000, rel ? rel.t : Infinity);
      byIp.set(a.ip, [...(byIp.get(a.ip) ?? []), { mac: a.mac, start: a.recv, end }]);
    }
    let reused = 0;
    for (const [ip, list] of byIp) {
      const macs = new Set(list.map((x) => x.mac));
      if (macs.size > 1) reused++;
      for (const a of list) for (const b of list) {
        if (a.mac !== b.mac && a.start < b.end && b.start < a.end) throw new Error(`${ip} acknowledged to ${a.mac} [${a.start}, ${a.end}) and ${b.mac} [${b.start}, ${b.end})`);
      }
    }
    expect(reused).toBeGreaterThan(20);
    expect(checked).toBeGreaterThan(KILLS * 20);
    console.log(`crash test: ${kills} SIGKILLs, ${acks.length} ACKs, ${rels.length} RELEASEs, ${reused} addresses passed between clients, ${checked} live leases found in the store`);
  }, 150_000);
});
