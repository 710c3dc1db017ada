/**
 * protocols/pcap: every container variant (classic LE/BE, µs/ns; pcapng LE/BE, EPB/SPB,
 * decimal and binary if_tsresol) and link type (Ethernet, 802.1Q, SLL, SLL2) read back what
 * was written, and agree with tshark on the same files; broken files give PcapError only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LinkType,
  PcapError,
  readCapture,
  readFrames,
  udpFrame,
  writeClassic,
  writePcapng,
  type FrameToWrite,
} from '../protocols/pcap/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dhcp = Buffer.alloc(300, 0x11);
const eth = udpFrame({ srcMac: '52:54:00:77:00:01', src: '0.0.0.0', dst: '255.255.255.255', srcPort: 68, dstPort: 67, payload: dhcp });

/** Ethernet frame with an 802.1Q tag (VLAN id) inserted after the MACs. */
function vlanTagged(frame: Buffer, vid: number): Buffer {
  return Buffer.concat([frame.subarray(0, 12), Buffer.from([0x81, 0x00, vid >> 8, vid & 0xff]), frame.subarray(12)]);
}

/** Linux cooked v1: packet type, ARPHRD_ETHER, addr len 6, source MAC, protocol. */
function sll(frame: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // to us
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  frame.copy(h, 6, 6, 12);
  frame.copy(h, 14, 12, 14);
  return Buffer.concat([h, frame.subarray(14)]);
}

/** Linux cooked v2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type, addr len, addr. */
function sll2(frame: Buffer): Buffer {
  const h = Buffer.alloc(20);
  frame.copy(h, 0, 12, 14);
  h.writeUInt32BE(3, 4);
  h.writeUInt16BE(1, 8);
  h[10] = 4; // outgoing
  h[11] = 6;
  frame.copy(h, 12, 6, 12);
  return Buffer.concat([h, frame.subarray(14)]);
}

/** Ethernet/IPv4/TCP segment with PSH+ACK carrying `payload` (checksums left 0: tshark does not verify them by default). */
function tcpFrame(payload: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(40 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from([192, 168, 77, 130]).copy(ip, 12);
  Buffer.from([192, 168, 77, 1]).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(8080, 2);
  tcp.writeUInt32BE(1000, 4);
  tcp.writeUInt32BE(2000, 8);
  tcp[12] = 5 << 4;
  tcp[13] = 0x18;
  tcp.writeUInt16BE(64240, 14);
  const ethHdr = Buffer.from('02000000000152540077000108 00'.replace(/ /g, ''), 'hex');
  return Buffer.concat([ethHdr, ip, tcp, payload]);
}

const httpLine = Buffer.from('GET /ltsp/ltsp.ipxe HTTP/1.1\r\nHost: 192.168.77.1\r\n\r\n');
const frames: FrameToWrite[] = [
  { data: eth, ts: { sec: 1_700_000_000, nsec: 123_456_000 } },
  { data: vlanTagged(eth, 77), ts: { sec: 1_700_000_001, nsec: 0 } },
  { data: tcpFrame(httpLine), ts: { sec: 1_700_000_002, nsec: 999_999_000 } },
  { data: Buffer.from('ffffffffffff5254007700010806', 'hex'), ts: { sec: 1_700_000_003, nsec: 0 } }, // ARP stub
];

function expectDecoded(buf: Buffer): void {
  const cap = readCapture(buf);
  expect(cap.frameCount).toBe(4);
  expect(cap.packets.map((p) => p.frame)).toEqual([1, 2, 3]);
  const [a, b, c] = cap.packets;
  expect(a).toMatchObject({ src: '0.0.0.0', dst: '255.255.255.255', protocol: 'udp', srcPort: 68, dstPort: 67, vlans: [], srcMac: '52:54:00:77:00:01', truncated: false });
  expect(a!.payload.equals(dhcp)).toBe(true);
  expect(b).toMatchObject({ vlans: [77], srcPort: 68, dstPort: 67 });
  expect(b!.payload.equals(dhcp)).toBe(true);
  expect(c).toMatchObject({ protocol: 'tcp', src: '192.168.77.130', dst: '192.168.77.1', srcPort: 40000, dstPort: 8080, tcp: { seq: 1000, ack: 2000, flags: 'PA' } });
  expect(c!.payload.toString()).toBe(httpLine.toString());
  expect(cap.skipped).toEqual([{ frame: 4, reason: 'not IPv4 (ethertype 0x0806)' }]);
}

/** tshark's view of a file: frame number, epoch time, IPs, UDP/TCP ports, VLAN id. */
function tsharkFields(file: string): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'vlan.id'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.trim().split('\n').map((l) => l.split('|'));
}

function ourFields(buf: Buffer): string[][] {
  const cap = readCapture(buf);
  return cap.packets.map((p) => [
    String(p.frame),
    `${p.ts.sec}.${String(p.ts.nsec).padStart(9, '0')}`,
    p.src,
    p.dst,
    p.protocol === 'udp' ? String(p.srcPort) : '',
    p.protocol === 'udp' ? String(p.dstPort) : '',
    p.protocol === 'tcp' ? String(p.srcPort) : '',
    p.protocol === 'tcp' ? String(p.dstPort) : '',
    p.vlans.join(','),
  ]);
}

const variants: [string, Buffer][] = [
  ['classic LE µs', writeClassic(frames)],
  ['classic BE µs', writeClassic(frames, { littleEndian: false })],
  ['classic LE ns', writeClassic(frames, { nanoseconds: true })],
  ['classic BE ns', writeClassic(frames, { littleEndian: false, nanoseconds: true })],
  ['pcapng LE µs', writePcapng(frames)],
  ['pcapng BE µs', writePcapng(frames, { littleEndian: false })],
  ['pcapng LE ns', writePcapng(frames, { tsresol: 9 })],
  ['pcapng BE ns', writePcapng(frames, { littleEndian: false, tsresol: 9 })],
];

describe('pcap reader: containers', () => {
  for (const [name, buf] of variants) {
    it(`${name}: decodes every frame and agrees with tshark`, () => {
      expectDecoded(buf);
      const file = join(dir, `${name.replace(/\W+/g, '_')}.pcap`);
      writeFileSync(file, buf);
      expect(ourFields(buf)).toEqual(tsharkFields(file).filter((r) => r[2] !== ''));
    });
  }

  it('keeps nanoseconds in ns files and µs in µs files', () => {
    const ns = writeClassic([{ data: eth, ts: { sec: 5, nsec: 123_456_789 } }], { nanoseconds: true });
    expect(readCapture(ns).packets[0]!.ts).toEqual({ sec: 5, nsec: 123_456_789 });
    const us = writeClassic([{ data: eth, ts: { sec: 5, nsec: 123_456_789 } }]);
    expect(readCapture(us).packets[0]!.ts).toEqual({ sec: 5, nsec: 123_456_000 });
  });

  it('pcapng binary if_tsresol (2^-20) converts to nanoseconds', () => {
    const buf = writePcapng([{ data: eth, ts: { sec: 7, nsec: 500_000_000 } }], { tsresol: 0x80 | 20 });
    expect(readCapture(buf).packets[0]!.ts).toEqual({ sec: 7, nsec: 500_000_000 });
  });

  it('pcapng simple packet blocks: frames numbered, no timestamp', () => {
    const buf = writePcapng(frames.slice(0, 2), { simple: true });
    const cap = readCapture(buf);
    expect(cap.packets.map((p) => [p.frame, p.vlans])).toEqual([
      [1, []],
      [2, [77]],
    ]);
    expect(cap.packets[0]!.ts).toEqual({ sec: 0, nsec: 0 });
  });

  it('numbers frames across several pcapng sections and interfaces like tshark', () => {
    const a = writePcapng(frames);
    const b = writePcapng([{ data: sll(eth), linkType: LinkType.LINUX_SLL }, { data: eth }], { littleEndian: false });
    const buf = Buffer.concat([a, b]);
    const file = join(dir, 'sections.pcapng');
    writeFileSync(file, buf);
    expect(readCapture(buf).frameCount).toBe(6);
    expect(ourFields(buf)).toEqual(tsharkFields(file).filter((r) => r[2] !== ''));
  });
});

describe('pcap reader: link types', () => {
  for (const [name, lt, data] of [
    ['Linux cooked SLL', LinkType.LINUX_SLL, sll(eth)],
    ['Linux cooked SLL2', LinkType.LINUX_SLL2, sll2(eth)],
    ['raw IPv4', LinkType.RAW, eth.subarray(14)],
  ] as const) {
    it(`${name}: same UDP packet as over Ethernet, and tshark agrees`, () => {
      const buf = writeClassic([{ data, ts: { sec: 1, nsec: 0 } }], { linkType: lt });
      const p = readCapture(buf).packets[0]!;
      expect(p).toMatchObject({ src: '0.0.0.0', dst: '255.255.255.255', srcPort: 68, dstPort: 67 });
      expect(p.payload.equals(dhcp)).toBe(true);
      if (lt !== LinkType.RAW) expect(p.srcMac).toBe('52:54:00:77:00:01');
      const file = join(dir, `${lt}.pcap`);
      writeFileSync(file, buf);
      expect(ourFields(buf)).toEqual(tsharkFields(file));
    });
  }

  it('marks snap-length-cut packets as truncated and keeps what was captured', () => {
    const cut = eth.subarray(0, 200);
    const cap = readCapture(writeClassic([{ data: cut, origLen: eth.length }]));
    expect(cap.packets[0]).toMatchObject({ truncated: true });
    expect(cap.packets[0]!.payload.length).toBe(200 - 42);
    expect(cap.packets[0]!.payloadLength).toBe(300);
  });

  it('trims Ethernet padding using the IP total length', () => {
    const small = udpFrame({ src: '10.0.0.1', dst: '10.0.0.2', srcPort: 1, dstPort: 2, payload: Buffer.from('hi') });
    const padded = Buffer.concat([small, Buffer.alloc(60 - small.length)]);
    expect(readCapture(writeClassic([{ data: padded }])).packets[0]!.payload.toString()).toBe('hi');
  });

  it('skips frames it cannot decode, with a reason, and goes on', () => {
    const frag = Buffer.from(eth);
    frag.writeUInt16BE(0x2000, 14 + 6); // more fragments
    const badIhl = Buffer.from(eth);
    badIhl[14] = 0x43;
    const badUdp = Buffer.from(eth);
    badUdp.writeUInt16BE(4, 14 + 20 + 4);
    const ipv6 = Buffer.concat([eth.subarray(0, 12), Buffer.from([0x86, 0xdd]), Buffer.alloc(40)]);
    const cap = readCapture(writeClassic([frag, badIhl, badUdp, ipv6, eth].map((data) => ({ data }))));
    expect(cap.skipped).toEqual([
      { frame: 1, reason: 'IPv4 fragment' },
      { frame: 2, reason: 'bad IPv4 header length 12' },
      { frame: 3, reason: 'bad UDP length 4' },
      { frame: 4, reason: 'not IPv4 (ethertype 0x86dd)' },
    ]);
    expect(cap.packets.map((p) => p.frame)).toEqual([5]);
  });
});

describe('pcap reader: broken files', () => {
  const code = (buf: Buffer): string => {
    try {
      readCapture(buf);
      return 'ok';
    } catch (e) {
      if (e instanceof PcapError) return e.code;
      throw e;
    }
  };
  it('gives typed errors with codes', () => {
    const classic = writeClassic(frames);
    const ng = writePcapng(frames);
    expect(code(Buffer.alloc(0))).toBe('bad-magic');
    expect(code(Buffer.from('GIF89a..........'))).toBe('bad-magic');
    expect(code(classic.subarray(0, 20))).toBe('truncated');
    expect(code(classic.subarray(0, classic.length - 1))).toBe('truncated');
    expect(code(ng.subarray(0, ng.length - 1))).toBe('truncated');
    const badTrailer = Buffer.from(ng);
    badTrailer.writeUInt32LE(999, ng.readUInt32LE(4) - 4);
    expect(code(badTrailer)).toBe('bad-length');
    const badVersion = Buffer.from(classic);
    badVersion.writeUInt16LE(3, 4);
    expect(code(badVersion)).toBe('unsupported');
    // An EPB that names interface 5 when only interface 0 exists.
    const badIf = Buffer.from(ng);
    const shbLen = ng.readUInt32LE(4);
    const idbLen = ng.readUInt32LE(shbLen + 4);
    badIf.writeUInt32LE(5, shbLen + idbLen + 8);
    expect(code(badIf)).toBe('bad-block');
    expect(() => readCapture(badIf)).toThrow(/undeclared interface 5 \(at byte \d+\)/);
  });

  it('property: ≥100 000 mutated/truncated captures give a Capture or a PcapError, nothing else', () => {
    const seeds = [
      writeClassic(frames),
      writeClassic(frames, { littleEndian: false, nanoseconds: true }),
      writePcapng(frames),
      writePcapng(frames, { littleEndian: false, tsresol: 0x80 | 30 }),
      writePcapng(frames.slice(0, 2), { simple: true }),
      writeClassic([{ data: sll(eth) }], { linkType: LinkType.LINUX_SLL }),
      writeClassic([{ data: sll2(eth) }, { data: vlanTagged(vlanTagged(eth, 3), 4) }], { linkType: LinkType.LINUX_SLL2 }),
    ];
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: seeds.length - 1 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      // Lengths are where readers go wrong: overwrite a 32-bit word with an extreme value.
      word: fc.option(fc.tuple(fc.nat(), fc.constantFrom(0, 1, 0xffffffff, 0x7fffffff, 0x0a0d0d0a, 0xa1b2c3d4, 12, 16)), { nil: undefined }),
    });
    let errors = 0;
    let oks = 0;
    fc.assert(
      fc.property(mutation, ({ seed, cut, edits, word }) => {
        let b = Buffer.from(seeds[seed]!);
        for (const [at, v] of edits) b[at % b.length] = v;
        if (word) b.writeUInt32LE(word[1], word[0] % (b.length - 3));
        if (cut !== undefined) b = b.subarray(0, cut % (b.length + 1));
        try {
          const cap = readCapture(b);
          for (const p of cap.packets) expect(p.payload.length).toBeLessThanOrEqual(b.length);
          oks++;
        } catch (e) {
          if (!(e instanceof PcapError)) throw e;
          errors++;
        }
      }),
      { numRuns: 100_000 },
    );
    // Both outcomes must actually occur, or the mutations are not exercising anything.
    expect(oks).toBeGreaterThan(1000);
    expect(errors).toBeGreaterThan(1000);
  });

  it('readFrames reports container format and byte order', () => {
    expect(readFrames(writeClassic(frames, { littleEndian: false }), () => {})).toEqual({ format: 'pcap', littleEndian: false });
    expect(readFrames(writePcapng(frames, { littleEndian: false }), () => {})).toEqual({ format: 'pcapng', littleEndian: false });
  });
});
