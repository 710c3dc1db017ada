/**
 * The proxyDHCP service on loopback with real UDP sockets on random ports: replies, their
 * destination ports, garbage, dry-run, reload, events and metrics.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DHCPREQUEST,
  clientPacket,
  clientPacketBytes,
  decodeDhcp,
  encode,
  encodeDhcp,
  setOption,
  getOption,
  readIp,
  readString,
  typedOptions,
  type ClientKind,
  type ClientPacketOptions,
  type DhcpPacket,
} from '../protocols/dhcp/index.js';
import { loadConfigText } from '../src/config/load.js';
import { startDhcpService, type DhcpService } from '../src/dhcp/service.js';
import type { BootEvent } from '../src/events.js';
import { silentLogger } from '../src/log.js';
import { MetricsRegistry } from '../src/metrics.js';

const LO = '127.0.0.1';

function loaded(text = '', extra: Record<string, unknown> = {}) {
  return loadConfigText(text, { overrides: { interfaces: ['lo'], dhcp: { port: 0, pxePort: 0 }, http: { port: 8080 }, ...extra } });
}

/** A client socket that collects replies; `next(xid)` waits (bounded) for one. */
class Client {
  readonly got: { packet: DhcpPacket; from: string; port: number }[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly sock: Socket) {
    sock.on('message', (msg, rinfo) => {
      try {
        this.got.push({ packet: decodeDhcp(msg), from: rinfo.address, port: rinfo.port });
      } catch {
        return;
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(): Promise<Client> {
    const s = createSocket({ type: 'udp4' });
    await new Promise<void>((r) => s.bind(0, '0.0.0.0', r));
    return new Client(s);
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(bytes: Uint8Array, port: number): Promise<void> {
    return new Promise((r, j) => this.sock.send(bytes, port, LO, (e) => (e ? j(e) : r())));
  }
  async next(xid: number, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.got.findIndex((g) => g.packet.xid === xid);
      if (i >= 0) return this.got.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close() {
    this.sock.close();
  }
}

describe('proxyDHCP service on loopback', () => {
  let svc: DhcpService;
  let client: Client;
  let relay: Client;
  const events: BootEvent[] = [];
  const metrics = new MetricsRegistry();
  let xid = 0x5000;

  beforeAll(async () => {
    client = await Client.open();
    relay = await Client.open();
    // Test sockets stand in for DHCP clients (port 68) and relay agents (port 67).
    svc = await startDhcpService({ loaded: loaded(), log: silentLogger, events: (e) => events.push(e), metrics, clientPort: client.port, relayPort: relay.port });
  });
  afterAll(async () => {
    client.close();
    relay.close();
    await svc.close();
  });

  async function ask(kind: ClientKind, port: 'dhcp' | 'pxe', o: ClientPacketOptions = {}) {
    const id = ++xid;
    await client.send(clientPacketBytes(kind, { xid: id, ...o }), svc.ports[port]);
    return client.next(id);
  }

  test('binds random ports and serves lo', () => {
    expect(svc.ports.dhcp).toBeGreaterThan(0);
    expect(svc.ports.pxe).toBeGreaterThan(0);
    expect(svc.interfaces.map((i) => i.name)).toEqual(['lo']);
  });

  test('BIOS DISCOVER → OFFER broadcast to the client port, from the DHCP port, option 54 = interface address', async () => {
    const r = await ask('bios-pxe', 'dhcp');
    expect(r).toBeDefined();
    expect(r!.port).toBe(svc.ports.dhcp);
    expect(r!.from).toBe(LO);
    expect(r!.packet.file).toBe('ltsp/undionly.kpxe');
    expect(readIp(getOption(r!.packet, 54))).toBe(LO);
    expect(typedOptions(r!.packet).messageType).toBe(2);
  });

  test('OVMF REQUEST on the PXE port → ACK back to the source port, from the PXE port', async () => {
    const r = await ask('ovmf-pxe', 'pxe', { messageType: DHCPREQUEST });
    expect(r!.port).toBe(svc.ports.pxe);
    expect(r!.packet).toMatchObject({ file: 'ltsp/snponly.efi', sname: LO, siaddr: LO });
  });

  test('relayed DISCOVER (giaddr set) → OFFER unicast to the relay, giaddr kept', async () => {
    const id = ++xid;
    await client.send(clientPacketBytes('bios-pxe', { xid: id, giaddr: LO }), svc.ports.dhcp);
    const r = await relay.next(id);
    expect(r).toBeDefined();
    expect(client.got.find((g) => g.packet.xid === id)).toBeUndefined();
    expect(r!.packet.giaddr).toBe(LO);
    expect(r!.packet.file).toBe('ltsp/undionly.kpxe');
    expect(r!.port).toBe(svc.ports.dhcp);
  });

  test('capable iPXE gets the HTTP script URL with the interface address', async () => {
    const r = await ask('ipxe-bios', 'dhcp');
    expect(r!.packet.file).toBe('http://127.0.0.1:8080/ltsp/ltsp.ipxe');
  });

  test('garbage, truncated packets and non-PXE clients get nothing, and the service keeps answering', async () => {
    const junk: Uint8Array[] = [new Uint8Array(0), new Uint8Array(10).fill(0xff), clientPacketBytes('bios-pxe').subarray(0, 250), Buffer.alloc(1400, 0x35)];
    const lying = clientPacketBytes('bios-pxe');
    lying[241] = 250; // option 53's length runs past the end
    junk.push(lying);
    for (const j of junk) {
      await client.send(j, svc.ports.dhcp);
      await client.send(j, svc.ports.pxe);
    }
    const ignoredXid = ++xid;
    await client.send(clientPacketBytes('linux-ipconfig', { xid: ignoredXid }), svc.ports.dhcp);
    const r = await ask('ovmf-pxe', 'dhcp');
    expect(r!.packet.siaddr).toBe(LO);
    expect(client.got.find((g) => g.packet.xid === ignoredXid)).toBeUndefined();
    const text = metrics.render();
    expect(text).toMatch(/ltsp_dhcp_decode_errors_total\{port="dhcp"\} [1-9]/);
    expect(text).toMatch(/ltsp_dhcp_ignored_total\{port="dhcp"\} [1-9]/);
    expect(text).toMatch(/ltsp_dhcp_packets_total\{port="dhcp",type="DISCOVER"\} [1-9]/);
    expect(text).toMatch(/ltsp_dhcp_replies_total\{kind="offer"\} [1-9]/);
    expect(events.some((e) => e.kind === 'ignore' && e.outcome?.includes('Linux ipconfig'))).toBe(true);
  });

  test('boot events carry MAC, kind and file', () => {
    expect(events).toContainEqual(expect.objectContaining({ service: 'dhcp', kind: 'offer', mac: '52:54:00:00:00:01', file: 'ltsp/undionly.kpxe' }));
    expect(events).toContainEqual(expect.objectContaining({ service: 'dhcp', kind: 'ack', mac: '52:54:00:00:00:04', file: 'ltsp/snponly.efi' }));
  });

  test("a REQUEST to the LAN's router is not answered, but its requested address joins the timeline", async () => {
    const p = clientPacket('ipxe-bios', { xid: 0x7777, messageType: DHCPREQUEST });
    setOption(p, 50, encode.ip('192.0.2.77'));
    await client.send(encodeDhcp(p), svc.ports.dhcp);
    expect(await ask('ovmf-pxe', 'dhcp')).toBeDefined(); // processed in order: the REQUEST was handled before
    expect(client.got.find((g) => g.packet.xid === 0x7777)).toBeUndefined();
    expect(events).toContainEqual(expect.objectContaining({ kind: 'ignore', mac: '52:54:00:00:00:02', ip: '192.0.2.77' }));
  });

  test('reload: an allow-list that excludes the client silences it; BOOT_FILE per MAC applies', async () => {
    svc.reload(loaded('[server]\nALLOWED_CLIENTS="52:54:00:00:00:0*"\n[52:54:00:00:00:01]\nBOOT_FILE=ltsp/ipxe.pxe\n'));
    expect((await ask('bios-pxe', 'dhcp'))!.packet.file).toBe('ltsp/ipxe.pxe');
    const silentXid = ++xid;
    await client.send(clientPacketBytes('rpi', { xid: silentXid }), svc.ports.dhcp);
    expect((await ask('ovmf-pxe', 'dhcp'))).toBeDefined();
    expect(client.got.find((g) => g.packet.xid === silentXid)).toBeUndefined();
    svc.reload(loaded());
    expect(readString(getOption((await ask('rpi', 'dhcp'))!.packet, 43))).toContain('Raspberry Pi Boot   ');
  });
});

test('dry run decides and logs but sends nothing', async () => {
  const client = await Client.open();
  const events: BootEvent[] = [];
  const svc = await startDhcpService({ loaded: loaded(), log: silentLogger, events: (e) => events.push(e), dryRun: true, clientPort: client.port });
  try {
    await client.send(clientPacketBytes('bios-pxe', { xid: 77 }), svc.ports.dhcp);
    const r = await client.next(77, 500);
    expect(r).toBeUndefined();
    expect(events).toContainEqual(expect.objectContaining({ kind: 'offer', detail: expect.objectContaining({ dryRun: true }) }));
  } finally {
    client.close();
    await svc.close();
  }
});

test('a port held by another program is a clear error', async () => {
  const holder = createSocket('udp4');
  await new Promise<void>((r) => holder.bind(0, '0.0.0.0', r));
  const port = holder.address().port;
  try {
    await expect(startDhcpService({ loaded: loaded('', { dhcp: { port, pxePort: 0 } }), log: silentLogger })).rejects.toThrow(`UDP port ${port} is already in use`);
  } finally {
    holder.close();
  }
});

test('the same port for DHCP and PXE is a clear error', async () => {
  await expect(startDhcpService({ loaded: loaded('', { dhcp: { port: 40111, pxePort: 40111 } }), log: silentLogger })).rejects.toThrow(/must differ/);
});

test('no servable interface is a clear error', async () => {
  await expect(startDhcpService({ loaded: loaded('', { interfaces: ['lt-dh-nonexistent0'] }), log: silentLogger })).rejects.toThrow(/no interface to serve/);
});
