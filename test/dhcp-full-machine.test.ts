/**
 * Full DHCP mode without sockets: the RFC 2131 state machine through createFullDhcp (lease
 * table + journal on a temp dir), the journal's crash handling and compaction, and the
 * guard's pure checks.
 */
import { mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPINFORM, DHCPNAK, DHCPOFFER, DHCPRELEASE, DHCPREQUEST,
  OPT, classify, clientPacket, decodeDhcp, encode, getOption, readString, readU32, readIp, setOption,
  type ClientKind, type DhcpPacket,
} from '../protocols/dhcp/index.js';
import { loadConfigText } from '../src/config/index.js';
import { pino } from 'pino';
import { silentLogger } from '../src/log.js';
import { policyFromConfig } from '../src/dhcp/policy.js';
import { createFullDhcp, type FullDhcp, type FullReply } from '../src/dhcp/full/index.js';
import { LeaseJournal, parseJournal } from '../src/dhcp/full/lease-journal.js';
import { LeaseTable, type LeaseRecord } from '../src/dhcp/full/lease-table.js';
import { hasNetAdmin, nftGuardPresent, nftGuardScript, otherIPv4Interfaces, systemdRestrictionGuards, unitFromCgroup } from '../src/dhcp/full/guard.js';
import { fullModeInterface } from '../src/dhcp/full/settings.js';

const LAN = { name: 'lan0', address: '192.168.67.1', netmask: '255.255.255.0', internal: false, broadcast: '192.168.67.255' };
const CONF = `
[server]
DHCP_MODE=full
HTTP_PORT=8080
[52:54:00:00:00:aa]
IP=192.168.67.7
HOSTNAME=pc07
[52:54:00:00:00:bb]
IP=10.9.9.9
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ltsp-ts-full-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let clock = Date.UTC(2025, 0, 1);
const now = () => clock;

async function server(file: string, text = CONF): Promise<FullDhcp> {
  const loaded = loadConfigText(text, { configFile: 'ltsp.conf' });
  expect(loaded.errors).toEqual([]);
  return createFullDhcp({ loaded, log: silentLogger, iface: LAN, policy: policyFromConfig(loaded), leaseFile: file, now });
}

let xid = 1;
function packet(kind: ClientKind, mac: string, type: number, o: { ciaddr?: string; requested?: string; serverId?: string; clientId?: string; lease?: number } = {}): DhcpPacket {
  const p = clientPacket(kind, { mac, messageType: type, ciaddr: o.ciaddr, xid: xid++ });
  if (o.requested) setOption(p, OPT.REQUESTED_IP, encode.ip(o.requested));
  if (o.serverId) setOption(p, OPT.SERVER_ID, encode.ip(o.serverId));
  if (o.clientId) setOption(p, OPT.CLIENT_ID, Buffer.from(o.clientId, 'hex'));
  if (o.lease) setOption(p, OPT.LEASE_TIME, encode.u32(o.lease));
  return p;
}

async function send(s: FullDhcp, p: DhcpPacket): Promise<{ reply?: DhcpPacket; out: FullReply[] }> {
  const out = await s.handle(p, classify(p, { srcPort: 68, dstPort: 67 }));
  return { out, reply: out[0] ? decodeDhcp(out[0].bytes) : undefined };
}

const type = (p?: DhcpPacket) => p && getOption(p, OPT.MESSAGE_TYPE)?.[0];

/** DISCOVER + REQUEST (SELECTING); returns the ACK. */
async function dora(s: FullDhcp, kind: ClientKind, mac: string, o: { clientId?: string } = {}): Promise<DhcpPacket> {
  const offer = (await send(s, packet(kind, mac, DHCPDISCOVER, o))).reply!;
  expect(type(offer)).toBe(DHCPOFFER);
  const ack = (await send(s, packet(kind, mac, DHCPREQUEST, { ...o, requested: offer.yiaddr, serverId: '192.168.67.1' }))).reply!;
  expect(type(ack)).toBe(DHCPACK);
  expect(ack.yiaddr).toBe(offer.yiaddr);
  return ack;
}

describe('full DHCP state machine', () => {
  test('DORA for a non-PXE client: lease with options 1, 3, 6, 28, 51, 54, 58, 59; journaled before the ACK', async () => {
    const file = path.join(dir, 'dora.journal');
    const s = await server(file);
    const offer = (await send(s, packet('linux-ipconfig', '52:54:00:00:01:01', DHCPDISCOVER))).reply!;
    expect(type(offer)).toBe(DHCPOFFER);
    expect(offer.yiaddr).toBe('192.168.67.20');
    expect(readIp(getOption(offer, OPT.SERVER_ID))).toBe('192.168.67.1');
    expect(readIp(getOption(offer, OPT.SUBNET_MASK))).toBe('255.255.255.0');
    expect(readIp(getOption(offer, OPT.ROUTER))).toBe('192.168.67.1');
    expect(readIp(getOption(offer, OPT.DNS_SERVERS))).toBe('192.168.67.1');
    expect(readIp(getOption(offer, OPT.BROADCAST))).toBe('192.168.67.255');
    expect(readU32(getOption(offer, OPT.LEASE_TIME))).toBe(43200);
    expect(readU32(getOption(offer, 58))).toBe(21600);
    expect(readU32(getOption(offer, 59))).toBe(37800);
    expect(offer.file).toBe('');
    expect(offer.siaddr).toBe('0.0.0.0');
    expect(await readFile(file, 'utf8')).toBe(''); // an OFFER is no commitment
    const ack = (await send(s, packet('linux-ipconfig', '52:54:00:00:01:01', DHCPREQUEST, { requested: offer.yiaddr, serverId: '192.168.67.1' }))).reply!;
    expect(type(ack)).toBe(DHCPACK);
    const recs = parseJournal(await readFile(file, 'utf8')).records;
    expect(recs).toEqual([{ op: 'bind', ip: '192.168.67.20', client: 'mac:52:54:00:00:01:01', mac: '52:54:00:00:01:01', expires: clock + 43200_000 }]);
    await s.close();
  });

  test('distinct clients get distinct addresses; option 61 identifies a client across MACs', async () => {
    const s = await server(path.join(dir, 'distinct.journal'));
    const ips = new Set<string>();
    for (let i = 0; i < 20; i++) ips.add((await dora(s, 'linux-ipconfig', `52:54:00:00:02:${i.toString(16).padStart(2, '0')}`)).yiaddr);
    expect(ips.size).toBe(20);
    const a = await dora(s, 'ipxe-bios', '52:54:00:00:03:01', { clientId: '01aabbccddeeff' });
    const b = await dora(s, 'ipxe-bios', '52:54:00:00:03:02', { clientId: '01aabbccddeeff' });
    expect(b.yiaddr).toBe(a.yiaddr);
    await s.close();
  });

  test('reservations (IP= in a MAC section) go to their MAC only; HOSTNAME becomes option 12', async () => {
    const s = await server(path.join(dir, 'resv.journal'));
    const ack = await dora(s, 'linux-ipconfig', '52:54:00:00:00:aa');
    expect(ack.yiaddr).toBe('192.168.67.7');
    expect(readString(getOption(ack, OPT.HOSTNAME))).toBe('pc07');
    // Another client asking for it (INIT-REBOOT, then DISCOVER with option 50) never gets it.
    const nak = (await send(s, packet('linux-ipconfig', '52:54:00:00:04:01', DHCPREQUEST, { requested: '192.168.67.7' }))).reply!;
    expect(type(nak)).toBe(DHCPNAK);
    const offer = (await send(s, packet('linux-ipconfig', '52:54:00:00:04:01', DHCPDISCOVER, { requested: '192.168.67.7' }))).reply!;
    expect(offer.yiaddr).not.toBe('192.168.67.7');
    // Even after the reserved client released it.
    await send(s, packet('linux-ipconfig', '52:54:00:00:00:aa', DHCPRELEASE, { ciaddr: '192.168.67.7' }));
    const nak2 = (await send(s, packet('linux-ipconfig', '52:54:00:00:04:02', DHCPREQUEST, { requested: '192.168.67.7' }))).reply!;
    expect(type(nak2)).toBe(DHCPNAK);
    // A pool address requested by the reserved client is refused: it has its own.
    const nak3 = (await send(s, packet('linux-ipconfig', '52:54:00:00:00:aa', DHCPREQUEST, { requested: '192.168.67.30' }))).reply!;
    expect(type(nak3)).toBe(DHCPNAK);
    await s.close();
  });

  test('SELECTING for another server drops our offer; INIT-REBOOT on a foreign network gets NAK', async () => {
    const s = await server(path.join(dir, 'select.journal'));
    const mac = '52:54:00:00:05:01';
    const offer = (await send(s, packet('linux-ipconfig', mac, DHCPDISCOVER))).reply!;
    const r = await send(s, packet('linux-ipconfig', mac, DHCPREQUEST, { requested: offer.yiaddr, serverId: '192.168.67.254' }));
    expect(r.out).toEqual([]);
    // The dropped offer's address is no longer held: the next client asking for it gets it.
    const other = (await send(s, packet('linux-ipconfig', '52:54:00:00:05:02', DHCPDISCOVER, { requested: offer.yiaddr }))).reply!;
    expect(other.yiaddr).toBe(offer.yiaddr);
    const nak = await send(s, packet('linux-ipconfig', mac, DHCPREQUEST, { requested: '10.1.2.3' }));
    expect(type(nak.reply)).toBe(DHCPNAK);
    expect(nak.out[0]!.broadcast).toBe(true);
    await s.close();
  });

  test('RENEWING is answered by unicast to ciaddr and extends the lease; INIT-REBOOT keeps the address', async () => {
    const file = path.join(dir, 'renew.journal');
    const s = await server(file);
    const mac = '52:54:00:00:06:01';
    const ack = await dora(s, 'linux-ipconfig', mac);
    clock += 3600_000;
    const renew = await send(s, packet('linux-ipconfig', mac, DHCPREQUEST, { ciaddr: ack.yiaddr }));
    expect(type(renew.reply)).toBe(DHCPACK);
    expect(renew.out[0]).toMatchObject({ address: ack.yiaddr, port: 68, broadcast: false });
    expect(renew.reply!.ciaddr).toBe(ack.yiaddr);
    const reboot = await send(s, packet('linux-ipconfig', mac, DHCPREQUEST, { requested: ack.yiaddr }));
    expect(type(reboot.reply)).toBe(DHCPACK);
    expect(reboot.out[0]!.broadcast).toBe(true);
    const recs = parseJournal(await readFile(file, 'utf8')).records;
    expect(recs.map((r) => (r as { expires: number }).expires)).toEqual([clock - 3600_000 + 43200_000, clock + 43200_000, clock + 43200_000]);
    // Renewing an address that is someone else's: NAK.
    const theft = await send(s, packet('linux-ipconfig', '52:54:00:00:06:02', DHCPREQUEST, { ciaddr: ack.yiaddr }));
    expect(type(theft.reply)).toBe(DHCPNAK);
    await s.close();
  });

  test('DECLINE keeps the address out of the pool; RELEASE frees it; INFORM gets options without a lease', async () => {
    const s = await server(path.join(dir, 'decline.journal'));
    const mac = '52:54:00:00:07:01';
    const ack = await dora(s, 'linux-ipconfig', mac);
    expect((await send(s, packet('linux-ipconfig', mac, DHCPDECLINE, { requested: ack.yiaddr, serverId: '192.168.67.1' }))).out).toEqual([]);
    const offer = (await send(s, packet('linux-ipconfig', mac, DHCPDISCOVER, { requested: ack.yiaddr }))).reply!;
    expect(offer.yiaddr).not.toBe(ack.yiaddr);
    const ack2 = (await send(s, packet('linux-ipconfig', mac, DHCPREQUEST, { requested: offer.yiaddr, serverId: '192.168.67.1' }))).reply!;
    expect(s.leases().map((l) => l.ip)).toContain(ack2.yiaddr);
    await send(s, packet('linux-ipconfig', mac, DHCPRELEASE, { ciaddr: ack2.yiaddr }));
    expect(s.leases().map((l) => l.ip)).not.toContain(ack2.yiaddr);
    const inform = await send(s, packet('linux-ipconfig', mac, DHCPINFORM, { ciaddr: '192.168.67.99' }));
    expect(type(inform.reply)).toBe(DHCPACK);
    expect(inform.reply!.yiaddr).toBe('0.0.0.0');
    expect(getOption(inform.reply!, OPT.LEASE_TIME)).toBeUndefined();
    expect(inform.out[0]).toMatchObject({ address: '192.168.67.99', broadcast: false });
    await s.close();
  });

  test('relayed requests: answered to the relay with option 82 echoed; a relay on another subnet is ignored', async () => {
    const s = await server(path.join(dir, 'relay.journal'));
    const p = packet('linux-ipconfig', '52:54:00:00:0b:01', DHCPDISCOVER);
    p.giaddr = '192.168.67.2';
    setOption(p, OPT.RELAY_AGENT, Uint8Array.of(1, 2, 0xab, 0xcd));
    const r = await send(s, p);
    expect(r.out[0]).toMatchObject({ address: '192.168.67.2', port: 67, broadcast: false });
    expect(Buffer.from(getOption(r.reply!, OPT.RELAY_AGENT)!).toString('hex')).toBe('0102abcd');
    const far = packet('linux-ipconfig', '52:54:00:00:0b:02', DHCPDISCOVER);
    far.giaddr = '10.0.0.1';
    expect((await send(s, far)).out).toEqual([]);
    await s.close();
  });

  test('reload: a new IP= reservation applies to the next DISCOVER', async () => {
    const s = await server(path.join(dir, 'reload.journal'));
    const mac = '52:54:00:00:0c:01';
    const other = await dora(s, 'linux-ipconfig', '52:54:00:00:0c:02');
    expect((await dora(s, 'linux-ipconfig', mac)).yiaddr).not.toBe('192.168.67.99');
    const next = loadConfigText(`${CONF}[${mac}]\nIP=192.168.67.99\n[52:54:00:00:0c:03]\nIP=${other.yiaddr}\n`, { configFile: 'ltsp.conf' });
    s.reload(next, policyFromConfig(next));
    expect((await send(s, packet('linux-ipconfig', mac, DHCPDISCOVER))).reply!.yiaddr).toBe('192.168.67.99');
    // A reservation still leased to another client: the reserved MAC gets a pool address meanwhile,
    // the holder is refused when it renews.
    const meanwhile = await dora(s, 'linux-ipconfig', '52:54:00:00:0c:03');
    expect(meanwhile.yiaddr).not.toBe(other.yiaddr);
    expect(type((await send(s, packet('linux-ipconfig', '52:54:00:00:0c:02', DHCPREQUEST, { ciaddr: other.yiaddr }))).reply)).toBe(DHCPNAK);
    await s.close();
  });

  test('lease expiry: a one-address pool goes to a second client only after the first lease ran out', async () => {
    const conf = '[server]\nDHCP_RANGE=192.168.67.50,192.168.67.50,2m\n';
    const s = await server(path.join(dir, 'expiry.journal'), conf);
    const a = await dora(s, 'linux-ipconfig', '52:54:00:00:08:01');
    expect(readU32(getOption(a, OPT.LEASE_TIME))).toBe(120);
    expect((await send(s, packet('linux-ipconfig', '52:54:00:00:08:02', DHCPDISCOVER))).out).toEqual([]);
    clock += 121_000;
    const b = await dora(s, 'linux-ipconfig', '52:54:00:00:08:02');
    expect(b.yiaddr).toBe('192.168.67.50');
    await s.close();
  });

  test('PXE clients also get next-server, boot file and option 60 from the proxy decision core', async () => {
    const s = await server(path.join(dir, 'pxe.journal'));
    const cases: [ClientKind, string, string][] = [
      ['bios-pxe', 'ltsp/undionly.kpxe', 'PXEClient'],
      ['ovmf-pxe', 'ltsp/snponly.efi', 'PXEClient'],
      ['ipxe-bios', 'http://192.168.67.1:8080/ltsp/ltsp.ipxe', 'PXEClient'],
      ['ipxe-efi', 'http://192.168.67.1:8080/ltsp/ltsp.ipxe', 'PXEClient'],
    ];
    for (const [kind, file, vc] of cases) {
      const ack = await dora(s, kind, `52:54:00:00:09:0${cases.findIndex((c) => c[0] === kind)}`);
      expect(ack.file, kind).toBe(file);
      expect(ack.siaddr, kind).toBe('192.168.67.1');
      expect(readString(getOption(ack, OPT.VENDOR_CLASS)), kind).toBe(vc);
      expect(getOption(ack, OPT.VENDOR_SPECIFIC), kind).toBeUndefined(); // no PXE menu outside proxy subnets
      expect(ack.yiaddr.startsWith('192.168.67.'), kind).toBe(true);
    }
    // Every client gets a lease, also when there is nothing to boot for it (ARM64 without
    // BOOT_FILE_EFI_ARM64) or it is chain-loaded; a Pi asking for 43 gets its menu.
    const arm = await dora(s, 'arm64-pxe', '52:54:00:00:09:20');
    expect(arm.file).toBe('');
    expect(arm.siaddr).toBe('0.0.0.0');
    expect((await dora(s, 'ipxe-bios-weak', '52:54:00:00:09:21')).file).toBe('ltsp/undionly.kpxe');
    const pi = await dora(s, 'rpi', 'dc:a6:32:00:09:22');
    expect(Buffer.from(getOption(pi, OPT.VENDOR_SPECIFIC)!).toString('latin1')).toContain('Raspberry Pi Boot   ');
    const http = await dora(s, 'ovmf-http', '52:54:00:00:09:10');
    expect(readString(getOption(http, OPT.VENDOR_CLASS))).toBe('HTTPClient');
    expect(http.file).toMatch(/^http:\/\/192\.168\.67\.1:8080\/ltsp\/snponly\.efi$/);
    expect(readString(getOption(http, OPT.BOOTFILE))).toBe(http.file);
    await s.close();
  });

  test('start-up warm-up runs the packet paths on synthetic clients and leaves no trace: no lease, journal line, info log line or cached client setting', async () => {
    const loaded = loadConfigText(CONF, { configFile: 'ltsp.conf' });
    const policy = policyFromConfig(loaded);
    const asked: string[] = [];
    const spied = { ...policy, clientSettings: (mac: string) => (asked.push(mac), policy.clientSettings(mac)) };
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'debug', base: undefined }, { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
    const file = path.join(dir, 'warm.journal');
    const s = await createFullDhcp({ loaded, log, iface: LAN, policy: spied, leaseFile: file, now, warmUp: 200 });
    const warm = lines.find((l) => /warmed up|warm-up failed/.test(l.msg));
    expect(warm?.msg).toMatch(/packet paths warmed up in \d+ ms \([1-9]\d* journal bytes, not written\)/);
    expect(lines.filter((l) => l.level >= 30 && l.msg.startsWith('dhcp full 02:00:5e'))).toEqual([]);
    expect(asked).toEqual([]);
    expect(s.leases()).toEqual([]);
    expect(await readFile(file, 'utf8')).toBe('');
    // The real table starts empty: the first client gets the pool's first free address.
    const ack = await dora(s, 'linux-ipconfig', '52:54:00:00:0b:01');
    expect(s.leases().map((l) => l.ip)).toEqual([ack.yiaddr]);
    expect(new Set(asked)).toEqual(new Set(['52:54:00:00:0b:01']));
    await s.close();
  });

  test('restart: leases come back from the journal; a torn last line is dropped and cut off', async () => {
    const file = path.join(dir, 'restart.journal');
    let s = await server(file);
    const a = await dora(s, 'linux-ipconfig', '52:54:00:00:0a:01');
    await s.close();
    await appendFile(file, '{"op":"bind","ip":"192.168.67.9'); // a write cut short by a crash
    s = await server(file);
    expect(s.leases().map((l) => l.ip)).toEqual([a.yiaddr]);
    const b = (await send(s, packet('linux-ipconfig', '52:54:00:00:0a:02', DHCPREQUEST, { requested: a.yiaddr }))).reply!;
    expect(type(b)).toBe(DHCPNAK);
    const again = await dora(s, 'linux-ipconfig', '52:54:00:00:0a:01');
    expect(again.yiaddr).toBe(a.yiaddr);
    await s.close();
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(parseJournal(text).problems).toEqual([]);
  });
});

describe('lease journal', () => {
  test('compaction rewrites the journal to the table; every append resolves after it is on disk', async () => {
    const file = path.join(dir, 'compact.journal');
    const table = new LeaseTable({ start: '10.0.0.10', end: '10.0.0.200', exclude: [] });
    const j = await LeaseJournal.open(file, { compactAfter: 50, snapshot: () => table.snapshot(0) }, () => {});
    const writes: Promise<void>[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20; i++) {
        const r: LeaseRecord = { op: 'bind', ip: `10.0.0.${10 + i}`, client: `c${i}`, mac: 'x', expires: round };
        table.apply(r);
        writes.push(j.append([r]));
      }
      await Promise.all(writes);
    }
    await j.close();
    const recs = parseJournal(await readFile(file, 'utf8')).records;
    expect(recs.length).toBeLessThan(200);
    const t2 = new LeaseTable({ start: '10.0.0.10', end: '10.0.0.200', exclude: [] });
    for (const r of recs) t2.apply(r);
    expect(t2.snapshot(0)).toEqual(table.snapshot(0));
  });

  test('the journal is open O_DSYNC (each write durable when it returns), also after a compaction', async () => {
    const file = path.join(dir, 'dsync.journal');
    // The flags of every descriptor this process has open on the journal (/proc/self/fdinfo, octal).
    const flagsOf = () =>
      readdirSync('/proc/self/fd')
        .filter((fd) => {
          try {
            return readlinkSync(`/proc/self/fd/${fd}`) === file;
          } catch {
            return false;
          }
        })
        .map((fd) => parseInt(/^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8));
    const O_DSYNC = 0o10000;
    const j = await LeaseJournal.open(file, { compactAfter: 5, snapshot: () => [] }, () => {});
    expect(flagsOf().map((f) => f & O_DSYNC)).toEqual([O_DSYNC]);
    for (let i = 0; i < 8; i++) await j.append([{ op: 'bad', ip: '10.0.0.1', until: i }]);
    await j.compact();
    expect(flagsOf().map((f) => f & O_DSYNC)).toEqual([O_DSYNC]);
    await j.close();
    expect(flagsOf()).toEqual([]);
  });

  test('more leases than compactAfter: a compaction is followed by compactAfter appends, not by another compaction per batch', async () => {
    const file = path.join(dir, 'big.journal');
    const table = new LeaseTable({ start: '10.0.0.10', end: '10.0.0.200', exclude: [] });
    const j = await LeaseJournal.open(file, { compactAfter: 10, snapshot: () => table.snapshot(0) }, () => {});
    const bind = async (i: number, expires: number) => {
      const r: LeaseRecord = { op: 'bind', ip: `10.0.0.${10 + i}`, client: `c${i}`, mac: 'x', expires };
      table.apply(r);
      await j.append([r]);
    };
    for (let i = 0; i < 11; i++) await bind(i, 1); // the 11th line triggers a compaction to 11 leases
    const lines = async () => (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
    expect(await lines()).toBe(11);
    for (let k = 0; k < 5; k++) await bind(0, 2 + k); // renewals: appended, no compaction yet
    expect(await lines()).toBe(16);
    await j.close();
  });

  test('garbage in the middle is skipped with a line number, the rest is read', () => {
    const text = '{"op":"bad","ip":"1.2.3.4","until":5}\nnot json\n{"op":"free","ip":"1.2.3.4","client":"c"}\n';
    const r = parseJournal(text, 'f');
    expect(r.records).toHaveLength(2);
    expect(r.problems).toEqual(['f:2: not a lease record: ignored']);
  });

  test('a missing journal is created empty', async () => {
    const file = path.join(dir, 'sub', 'new.journal');
    const j = await LeaseJournal.open(file, { snapshot: () => [] }, (l) => expect(l.records).toEqual([]));
    await j.close();
    await writeFile(file, '', { flag: 'a' });
  });
});

describe('full mode interface and guard checks', () => {
  test('the LAN is the interface whose subnet holds the pool; LTSP default 192.168.67.x', () => {
    const wan = { name: 'wan0', address: '10.0.0.5', netmask: '255.255.255.0', internal: false, broadcast: '10.0.0.255' };
    const loaded = loadConfigText('', {});
    expect(fullModeInterface(loaded, [wan, LAN]).name).toBe('lan0');
    expect(() => fullModeInterface(loaded, [wan])).toThrow(/DHCP_RANGE/);
    const ranged = loadConfigText('[server]\nDHCP_RANGE=10.0.0.100,10.0.0.200\n', {});
    expect(fullModeInterface(ranged, [wan, LAN]).name).toBe('wan0');
  });

  test('guard helpers', () => {
    expect(systemdRestrictionGuards('lan0 lo', 'lan0')).toBe(true);
    expect(systemdRestrictionGuards('lan0 wan0', 'lan0')).toBe(false);
    expect(systemdRestrictionGuards('~wan0', 'lan0')).toBe(false);
    expect(systemdRestrictionGuards('', 'lan0')).toBe(false);
    expect(unitFromCgroup('0::/system.slice/ltsp-ts.service\n')).toBe('ltsp-ts.service');
    expect(unitFromCgroup('0::/user.slice/user-0.slice/session-1.scope\n')).toBeUndefined();
    expect(hasNetAdmin('CapEff:\t0000000000001000\n')).toBe(true);
    expect(hasNetAdmin('CapEff:\t0000000000000400\n')).toBe(false);
    expect(otherIPv4Interfaces('lan0', { lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: null }], lan0: [] })).toEqual([]);
    expect(nftGuardScript('lan0')).toContain('udp dport 67 iifname != "lan0" counter drop');
    expect(nftGuardPresent('{"nftables":[]}', 'lan0')).toBe(false);
    expect(nftGuardPresent('garbage', 'lan0')).toBe(false);
  });
});
