import { describe, expect, test } from 'vitest';
import {
  ARCH_NAMES,
  CLIENT_KINDS,
  DhcpDecodeError,
  DhcpEncodeError,
  archInfo,
  buildReply,
  classify,
  clientPacket,
  clientPacketBytes,
  decodeDhcp,
  encode,
  encodeDhcp,
  encodePxeOptions,
  getOption,
  ipxeCapable,
  parsePxeOptions,
  parseUserClass,
  setOption,
  typedOptions,
  OPT,
  type DhcpPacket,
} from '../protocols/dhcp/index.js';

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A minimal DHCP packet with raw option bytes spliced in after the magic cookie. */
function rawPacket(options: number[], opts: { sname?: number[]; file?: number[]; size?: number } = {}): Uint8Array {
  const out = new Uint8Array(Math.max(240 + options.length, opts.size ?? 0));
  out[0] = 1;
  out[1] = 1;
  out[2] = 6;
  out.set([0xde, 0xad, 0xbe, 0xef], 4);
  out.set([0x52, 0x54, 0, 1, 2, 3], 28);
  if (opts.sname) out.set(opts.sname, 44);
  if (opts.file) out.set(opts.file, 108);
  out.set([99, 130, 83, 99], 236);
  out.set(options, 240);
  return out;
}

function expectDecodeError(b: Uint8Array, kind: DhcpDecodeError['kind']): void {
  try {
    decodeDhcp(b);
  } catch (e) {
    expect(e).toBeInstanceOf(DhcpDecodeError);
    expect((e as DhcpDecodeError).kind).toBe(kind);
    return;
  }
  throw new Error('expected a DhcpDecodeError');
}

describe('decode', () => {
  test('header fields and options in order of first appearance', () => {
    const b = rawPacket([53, 1, 1, 60, 9, ...Buffer.from('PXEClient'), 93, 2, 0, 7, 255]);
    const p = decodeDhcp(b);
    expect(p.op).toBe(1);
    expect(p.xid).toBe(0xdeadbeef);
    expect(p.options.map((o) => o.code)).toEqual([53, 60, 93]);
    expect(typedOptions(p)).toMatchObject({ messageType: 1, vendorClass: 'PXEClient', clientArch: [7] });
  });

  test('PAD is one byte (the npm dhcp package skipped two)', () => {
    const p = decodeDhcp(rawPacket([53, 1, 1, 0, 3, 4, 10, 0, 0, 1, 0, 0, 0, 6, 4, 8, 8, 8, 8, 255]));
    expect(typedOptions(p)).toMatchObject({ messageType: 1, routers: ['10.0.0.1'], dnsServers: ['8.8.8.8'] });
  });

  test('RFC 3396: instances of one code are concatenated, across file and sname with overload', () => {
    // options: 52=3 (file+sname), 12 "ab"; file: 12 "cd"; sname: 12 "ef"
    const b = rawPacket([52, 1, 3, 12, 2, 0x61, 0x62, 255], { file: [12, 2, 0x63, 0x64, 255], sname: [12, 2, 0x65, 0x66, 255] });
    const p = decodeDhcp(b);
    expect(typedOptions(p).hostname).toBe('abcdef');
    expect(p.file).toBe('');
    expect(p.sname).toBe('');
    expect(hexOf(encodeDhcp(p))).toBe(hexOf(b));
  });

  test('no overload: file and sname are text, bytes after the NUL are kept', () => {
    const file = [...Buffer.from('ltsp/undionly.kpxe'), 0, 0x41, 0x42];
    const b = rawPacket([53, 1, 2, 255], { file, sname: [...Buffer.from('srv')] });
    const p = decodeDhcp(b);
    expect(p.file).toBe('ltsp/undionly.kpxe');
    expect(p.sname).toBe('srv');
    expect(hexOf(encodeDhcp(p))).toBe(hexOf(b));
  });

  test('re-encodes PAD runs, split options, unknown options and bytes after END identically', () => {
    const long = Array.from({ length: 300 }, (_, i) => i & 0xff);
    const b = rawPacket([0, 0, 53, 1, 3, 0, 43, 255, ...long.slice(0, 255), 224, 3, 1, 2, 3, 43, 45, ...long.slice(255), 0, 255, 9, 9, 9]);
    const p = decodeDhcp(b);
    expect(getOption(p, 43)!.length).toBe(300);
    expect(hexOf(getOption(p, 224)!)).toBe('010203');
    expect(hexOf(encodeDhcp(p))).toBe(hexOf(b));
  });

  test('a changed option value of the same length keeps the layout, a longer one goes canonical', () => {
    const b = rawPacket([0, 53, 1, 1, 12, 3, 0x61, 0x62, 0x63, 255]);
    const p = decodeDhcp(b);
    setOption(p, 12, encode.string('xyz'));
    expect(hexOf(encodeDhcp(p))).toBe(hexOf(rawPacket([0, 53, 1, 1, 12, 3, 0x78, 0x79, 0x7a, 255])));
    setOption(p, 12, encode.string('longer'));
    const q = decodeDhcp(encodeDhcp(p));
    expect(typedOptions(q).hostname).toBe('longer');
    expect(encodeDhcp(p).length).toBe(300);
  });

  test.each([
    ['shorter than 240 bytes', rawPacket([255]).subarray(0, 239), 'truncated'],
    ['bad magic cookie', (() => { const b = rawPacket([255]); b[236] = 0; return b; })(), 'bad-magic'],
    ['option length runs past the end', rawPacket([53, 1, 1, 12, 40, 0x61]), 'bad-option-length'],
    ['length byte missing', rawPacket([53, 1, 1, 12]), 'truncated'],
    ['no END', rawPacket([53, 1, 1, 0, 0]), 'no-end'],
    ['overload value out of range', rawPacket([52, 1, 7, 255]), 'bad-overload'],
    ['overloaded file field with a lying length', rawPacket([52, 1, 1, 255], { file: [12, 200] }), 'bad-option-length'],
    ['larger than a UDP datagram', new Uint8Array(70000), 'overlong'],
  ] as const)('%s → DhcpDecodeError', (_name, bytes, kind) => {
    expectDecodeError(bytes, kind);
  });
});

describe('encode', () => {
  test('canonical form: 53 first, long option split at 255, END, padded to 300', () => {
    const req = clientPacket('bios-pxe');
    const r = buildReply(req, { messageType: 2, options: [{ code: 43, data: new Uint8Array(400).fill(7) }] });
    const b = encodeDhcp(r);
    expect(b.length).toBe(240 + 3 + 257 + 147 + 1);
    expect([...b.subarray(240, 245)]).toEqual([53, 1, 2, 43, 255]);
    const d = decodeDhcp(b);
    expect(getOption(d, 43)).toEqual(new Uint8Array(400).fill(7));
    expect(encodeDhcp(buildReply(req, { messageType: 2 })).length).toBe(300);
  });

  test('options that do not fit maxSize go into file and sname with option 52', () => {
    const req = clientPacket('bios-pxe');
    const big = Array.from({ length: 8 }, (_, i) => ({ code: 200 + i, data: new Uint8Array(30).fill(i) }));
    const r = buildReply(req, { messageType: 5, options: big });
    const b = encodeDhcp(r, { maxSize: 576 - 28 - 200 });
    expect(b.length).toBeLessThanOrEqual(348);
    const d = decodeDhcp(b);
    expect(typedOptions(d).overload).toBeGreaterThan(0);
    for (const o of big) expect(getOption(d, o.code)).toEqual(o.data);
    expect(hexOf(encodeDhcp(d))).toBe(hexOf(b));
  });

  test('bad field values raise DhcpEncodeError', () => {
    const r = buildReply(clientPacket('bios-pxe'), { messageType: 2, siaddr: '10.0.0.300' });
    expect(() => encodeDhcp(r)).toThrow(DhcpEncodeError);
    const s = buildReply(clientPacket('bios-pxe'), { messageType: 2, file: 'x'.repeat(129) });
    expect(() => encodeDhcp(s)).toThrow(DhcpEncodeError);
  });
});

describe('typed options', () => {
  test('option 77: RFC 3004 list and iPXE plain string', () => {
    expect(parseUserClass(Uint8Array.of(4, ...Buffer.from('iPXE'), 3, ...Buffer.from('abc')))).toEqual({ format: 'rfc3004', classes: ['iPXE', 'abc'] });
    expect(parseUserClass(encode.string('iPXE'))).toEqual({ format: 'plain', classes: ['iPXE'] });
  });

  test('option 43 PXE sub-options round-trip in dnsmasq order 6, 10, 8, 9', () => {
    const b = encodePxeOptions({
      discoveryControl: 3,
      prompt: { timeout: 0, text: 'PXE' },
      bootServers: [{ type: 0x8000, ips: ['192.168.1.10'] }],
      menu: [{ type: 0x8000, description: 'undionly.kpxe' }],
    });
    expect(hexOf(b)).toBe('060103' + '0a0400505845' + '0807800001c0a8010a' + '09108000' + '0d' + Buffer.from('undionly.kpxe').toString('hex') + 'ff');
    expect(parsePxeOptions(b)).toMatchObject({ discoveryControl: 3, prompt: { timeout: 0, text: 'PXE' }, bootServers: [{ type: 32768, ips: ['192.168.1.10'] }], menu: [{ type: 32768, description: 'undionly.kpxe' }] });
    expect(parsePxeOptions(encodePxeOptions({ bootItem: { type: 32770, layer: 0 } }))?.bootItem).toEqual({ type: 32770, layer: 0 });
  });

  test('1, 3, 6, 12, 15, 17, 28, 50, 51, 54, 57, 61, 66, 67, 82, 94, 97, 175', () => {
    const p: DhcpPacket = clientPacket('ipxe-bios', { giaddr: '10.1.0.1' });
    const add = (code: number, data: Uint8Array) => p.options.push({ code, data });
    add(1, encode.ip('255.255.255.0'));
    add(3, encode.ips(['10.0.0.1', '10.0.0.2']));
    add(6, encode.ips(['9.9.9.9']));
    add(12, Uint8Array.of(...Buffer.from('pc01'), 0)); // a trailing NUL is not part of the text
    add(15, encode.string('lan'));
    add(17, encode.string('x86_64'));
    add(28, encode.ip('10.0.0.255'));
    add(50, encode.ip('10.0.0.7'));
    add(51, encode.u32(43200));
    add(54, encode.ip('10.0.0.1'));
    add(66, encode.string('tftp.lan'));
    add(67, encode.string('ltsp/ltsp.ipxe'));
    add(82, Uint8Array.of(1, 2, 0xab, 0xcd, 2, 1, 0xef));
    add(97, Uint8Array.of(0, ...Array.from({ length: 16 }, (_, i) => i)));
    const t = typedOptions(decodeDhcp(encodeDhcp(p)));
    expect(t).toMatchObject({
      subnetMask: '255.255.255.0',
      routers: ['10.0.0.1', '10.0.0.2'],
      dnsServers: ['9.9.9.9'],
      hostname: 'pc01',
      domainName: 'lan',
      rootPath: 'x86_64',
      broadcast: '10.0.0.255',
      requestedIp: '10.0.0.7',
      leaseTime: 43200,
      serverId: '10.0.0.1',
      maxMessageSize: 1472,
      clientId: { type: 1, mac: '52:54:00:00:00:02' },
      tftpServer: 'tftp.lan',
      bootfile: 'ltsp/ltsp.ipxe',
      relayAgent: { circuitId: 'abcd', remoteId: 'ef' },
      clientNdi: { type: 1, major: 2, minor: 1 },
      guid: '00010203-0405-0607-0809-0a0b0c0d0e0f',
      ipxe: { version: '1.21.1', busId: { busType: 1, vendor: 0x8086, device: 0x100e } },
    });
    expect(t.ipxe?.featureNames).toEqual(expect.arrayContaining(['http', 'menu', 'pxe', 'bzimage']));
  });

  test('malformed typed values are left out, raw bytes stay', () => {
    const p = decodeDhcp(rawPacket([53, 2, 1, 1, 54, 3, 1, 2, 3, 93, 1, 0, 255]));
    const t = typedOptions(p);
    expect(t.messageType).toBeUndefined();
    expect(t.serverId).toBeUndefined();
    expect(t.clientArch).toBeUndefined();
    expect(hexOf(getOption(p, 54)!)).toBe('010203');
  });
});

describe('classify', () => {
  test.each([
    ['bios-pxe', { isPXE: true, arch: 0, archName: 'bios', ipxe: false, uefi: false }],
    ['ipxe-bios', { isPXE: true, arch: 0, ipxe: true, ipxeCapable: true, userClass: ['iPXE'] }],
    ['ipxe-bios-weak', { isPXE: true, ipxe: true, ipxeCapable: false }],
    ['ovmf-pxe', { isPXE: true, arch: 7, archName: 'efi-x64', uefi: true, ndi: '3.0' }],
    ['efi-bc-pxe', { arch: 9, archName: 'efi-x64' }],
    ['ipxe-efi', { arch: 7, ipxe: true, ipxeCapable: true }],
    ['ovmf-http', { isPXE: false, isHTTPClient: true, arch: 16, archName: 'http-x64' }],
    ['arm64-pxe', { arch: 11, archName: 'efi-arm64' }],
    ['rpi', { raspberryPi: true, arch: 0 }],
    ['linux-ipconfig', { isPXE: false, isHTTPClient: false, hasArch: false, vendorClass: 'Linux ipconfig' }],
  ] as const)('%s', (kind, facts) => {
    const f = classify(decodeDhcp(clientPacketBytes(kind)), { dstPort: 67 });
    expect(f).toMatchObject({ messageTypeName: 'DISCOVER', dstPort: 67, ...facts });
  });

  test('plain "PXEClient" (undionly, iPXE on 4011) is PXE; relay, GUID, boot item', () => {
    const p = clientPacket('ipxe-bios', { giaddr: '10.9.0.1', bootItem: 32770, messageType: 3, ciaddr: '10.9.0.50' });
    setOption(p, OPT.VENDOR_CLASS, encode.string('PXEClient'));
    p.options.push({ code: OPT.CLIENT_GUID, data: new Uint8Array(17) });
    const f = classify(decodeDhcp(encodeDhcp(p)));
    expect(f).toMatchObject({ isPXE: true, relayed: true, giaddr: '10.9.0.1', bootItem: { type: 32770, layer: 0 }, messageType: 3, ciaddr: '10.9.0.50', guid: '00000000-0000-0000-0000-000000000000' });
    expect(f.guidOption).toBe('00'.repeat(17));
  });

  test('every Raspberry Pi OUI', () => {
    for (const oui of ['b8:27:eb', 'dc:a6:32', 'e4:5f:01', '28:cd:c1', '2c:cf:67', '88:a2:9e', 'd8:3a:dd']) {
      expect(classify(clientPacket('rpi', { mac: `${oui}:01:02:03` })).raspberryPi).toBe(true);
    }
    expect(classify(clientPacket('rpi', { mac: 'b8:27:ec:01:02:03' })).raspberryPi).toBe(false);
  });

  test('iPXE capable = HTTP and MENU and (PXE and BZIMAGE, or EFI)', () => {
    expect(ipxeCapable([0x13, 0x27, 0x21, 0x18])).toBe(true);
    expect(ipxeCapable([0x13, 0x27, 0x24])).toBe(true);
    expect(ipxeCapable([0x13, 0x27, 0x21])).toBe(false);
    expect(ipxeCapable([0x27, 0x24])).toBe(false);
    expect(ipxeCapable([0x13, 0x24])).toBe(false);
  });

  test('arch table', () => {
    expect(archInfo(9).name).toBe('efi-x64');
    expect(archInfo(15)).toMatchObject({ name: 'http-ia32', http: true, uefi: true });
    expect(archInfo(19).name).toBe('http-arm64');
    expect(archInfo(10).name).toBe('efi-arm32');
    expect(archInfo(6).name).toBe('efi-ia32');
    expect(archInfo(999).name).toBe('arch-999');
    expect(ARCH_NAMES).toContain('efi-riscv64');
  });

  test('every simulated client packet re-encodes identically', () => {
    for (const k of CLIENT_KINDS) {
      const b = clientPacketBytes(k);
      expect(hexOf(encodeDhcp(decodeDhcp(b)))).toBe(hexOf(b));
    }
  });
});
