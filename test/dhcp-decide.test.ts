import { describe, expect, test } from 'vitest';
import {
  DHCPINFORM,
  DHCPREQUEST,
  FLAG_BROADCAST,
  OPT,
  buildReply,
  classify,
  clientPacket,
  decodeDhcp,
  encodeDhcp,
  getOption,
  parsePxeOptions,
  readString,
  setOption,
  encode,
  type ClientKind,
  type ClientPacketOptions,
} from '../protocols/dhcp/index.js';
import { decide, type Decision, type ReplyDecision } from '../src/dhcp/decide.js';
import { replyDestination } from '../src/dhcp/destination.js';
import { DEFAULT_BOOT_FILES, type DhcpPolicy } from '../src/dhcp/policy.js';

const SERVER = '10.0.0.1';
const URL_SCRIPT = 'http://10.0.0.1:8080/ltsp/ltsp.ipxe';

function policy(p: Partial<DhcpPolicy> & { settings?: Record<string, Record<string, string>> } = {}): DhcpPolicy {
  return {
    bootFiles: { ...DEFAULT_BOOT_FILES },
    http: { enabled: true, port: 8080 },
    pxePort: 4011,
    allowClients: [],
    clientSettings: (mac) => p.settings?.[mac] ?? {},
    ...p,
  };
}

function run(kind: ClientKind, o: ClientPacketOptions & { port?: number; pol?: DhcpPolicy } = {}) {
  const req = decodeDhcp(encodeDhcp(clientPacket(kind, o)));
  const facts = classify(req, { dstPort: o.port ?? 67 });
  const d = decide(facts, o.pol ?? policy(), SERVER);
  const reply = d.action === 'reply' ? decodeDhcp(encodeDhcp(buildReply(req, d.reply))) : undefined;
  return { req, facts, d, reply };
}

function replied(d: Decision): ReplyDecision {
  if (d.action !== 'reply') throw new Error(`expected a reply, got ignore: ${d.reason}`);
  return d;
}

const opt = (p: ReturnType<typeof run>['reply'], code: number) => getOption(p!, code);
const text = (p: ReturnType<typeof run>['reply'], code: number) => readString(opt(p, code));
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

describe('who is answered', () => {
  test.each([
    ['linux-ipconfig', /not a PXE client \(vendor class 'Linux ipconfig'\)/],
  ] as const)('%s is ignored', (kind, why) => {
    expect(run(kind).d).toMatchObject({ action: 'ignore', reason: expect.stringMatching(why) });
  });

  test('PXEClient without option 93 is ignored', () => {
    const p = clientPacket('bios-pxe');
    p.options = p.options.filter((o) => o.code !== OPT.CLIENT_ARCH);
    expect(decide(classify(p, { dstPort: 67 }), policy(), SERVER)).toEqual({ action: 'ignore', reason: 'no client architecture (option 93)' });
  });

  test('no vendor class at all', () => {
    const p = clientPacket('bios-pxe');
    p.options = p.options.filter((o) => o.code !== OPT.VENDOR_CLASS);
    expect(decide(classify(p, { dstPort: 67 }), policy(), SERVER).reason).toMatch(/vendor class absent/);
  });

  test('allow-list by MAC glob', () => {
    const pol = policy({ allowClients: ['52:54:00:00:00:0*', 'AA:BB:CC:DD:EE:FF'] });
    expect(run('bios-pxe', { pol }).d.action).toBe('reply');
    expect(run('bios-pxe', { pol, mac: 'aa:bb:cc:dd:ee:ff' }).d.action).toBe('reply');
    expect(run('bios-pxe', { pol, mac: '52:54:00:00:01:01' }).d).toMatchObject({ action: 'ignore', reason: 'MAC not in ALLOWED_CLIENTS' });
  });

  test('REQUEST on port 67 and DISCOVER on the PXE port are not ours', () => {
    expect(run('bios-pxe', { messageType: DHCPREQUEST }).d.reason).toMatch(/REQUEST on port 67/);
    expect(run('bios-pxe', { port: 4011 }).d.reason).toMatch(/DISCOVER on the PXE port/);
  });

  test('an arch with no boot file is ignored with a clear reason; configured, it is answered', () => {
    expect(run('arm64-pxe').d).toEqual({ action: 'ignore', reason: 'no boot file for arch 11 (efi-arm64): set BOOT_FILE_EFI_ARM64 in ltsp.conf' });
    const pol = policy({ bootFiles: { ...DEFAULT_BOOT_FILES, 'efi-arm64': 'ltsp/snponly-arm64.efi' } });
    const { reply } = run('arm64-pxe', { pol, port: 4011, messageType: DHCPREQUEST });
    expect(reply).toMatchObject({ file: 'ltsp/snponly-arm64.efi', siaddr: SERVER, sname: SERVER });
  });

  test("'' disables an arch", () => {
    const pol = policy({ bootFiles: { ...DEFAULT_BOOT_FILES, bios: '' } });
    expect(run('bios-pxe', { pol }).d.reason).toBe('arch 0 (bios) is disabled in the config');
  });
});

describe('port 67 DISCOVER → proxy OFFER (dnsmasq)', () => {
  test('BIOS PXE ROM: file, siaddr 0, option 43 in the order 6, 10, 8, 9, options 53 54 60 97 43', () => {
    const { d, reply, req } = run('bios-pxe');
    expect(replied(d)).toMatchObject({ kind: 'offer', bootFile: 'ltsp/undionly.kpxe' });
    expect(reply).toMatchObject({ op: 2, yiaddr: '0.0.0.0', ciaddr: '0.0.0.0', siaddr: '0.0.0.0', file: 'ltsp/undionly.kpxe', sname: '', xid: req.xid, secs: req.secs });
    expect(reply!.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
    expect(reply!.options.map((o) => o.code)).toEqual([53, 54, 60, 97, 43]);
    expect(text(reply, 60)).toBe('PXEClient');
    expect(hex(opt(reply, 54))).toBe('0a000001');
    expect(hex(opt(reply, 97))).toBe(hex(getOption(req, 97)));
    expect(hex(opt(reply, 43))).toBe('060103' + '0a0400' + ascii('PXE') + '0807800001' + '0a000001' + '09108000' + '0d' + ascii('undionly.kpxe') + 'ff');
  });

  test('capable BIOS iPXE: the script over HTTP; TFTP path when HTTP is off', () => {
    const { reply } = run('ipxe-bios');
    expect(reply!.file).toBe(URL_SCRIPT);
    expect(parsePxeOptions(opt(reply, 43)!)?.menu).toEqual([{ type: 32770, description: 'ltsp.ipxe' }]);
    expect(opt(reply, 97)).toBeUndefined(); // no GUID sent, none echoed
    expect(run('ipxe-bios', { pol: policy({ http: { enabled: false, port: 8080 } }) }).reply!.file).toBe('ltsp/ltsp.ipxe');
  });

  test('weak iPXE (no HTTP/menu) is chain-loaded to undionly.kpxe', () => {
    expect(replied(run('ipxe-bios-weak').d)).toMatchObject({ bootFile: 'ltsp/undionly.kpxe', reason: expect.stringMatching(/chain-load/) });
  });

  test('Raspberry Pi: two menu entries, prompt 255, text with three trailing spaces', () => {
    const pxe = parsePxeOptions(opt(run('rpi').reply, 43)!)!;
    expect(pxe.menu).toEqual([
      { type: 32768, description: 'undionly.kpxe' },
      { type: 32772, description: 'Raspberry Pi Boot   ' },
    ]);
    expect(pxe.prompt).toEqual({ timeout: 255, text: 'PXE' });
    expect(pxe.bootServers).toEqual([{ type: 32768, ips: [SERVER] }, { type: 32772, ips: [SERVER] }]);
  });

  test('UEFI x64 (OVMF): siaddr = server, empty file, no option 43', () => {
    const { d, reply } = run('ovmf-pxe');
    expect(replied(d)).toMatchObject({ bootFile: 'ltsp/snponly.efi', reason: expect.stringMatching(/redirect to the PXE port/) });
    expect(reply).toMatchObject({ siaddr: SERVER, file: '', sname: '' });
    expect(reply!.options.map((o) => o.code)).toEqual([53, 54, 60, 97]);
  });

  test('capable UEFI iPXE: also redirected (file on the PXE port)', () => {
    expect(run('ipxe-efi').reply).toMatchObject({ siaddr: SERVER, file: '' });
  });

  test('arch 9: file directly, no option 43', () => {
    const { reply } = run('efi-bc-pxe');
    expect(reply).toMatchObject({ siaddr: SERVER, file: 'ltsp/snponly.efi' });
    expect(opt(reply, 43)).toBeUndefined();
  });

  test('UEFI HTTP Boot: option 60 HTTPClient and the URL in 67 and file', () => {
    const { d, reply } = run('ovmf-http');
    const url = 'http://10.0.0.1:8080/ltsp/snponly.efi';
    expect(replied(d)).toMatchObject({ kind: 'offer', bootFile: url });
    expect(reply).toMatchObject({ file: url, siaddr: SERVER, yiaddr: '0.0.0.0' });
    expect(text(reply, 60)).toBe('HTTPClient');
    expect(text(reply, 67)).toBe(url);
    expect(run('ovmf-http', { pol: policy({ http: { enabled: false, port: 8080 } }) }).d.reason).toMatch(/HTTP service is off/);
    expect(run('ovmf-http', { port: 4011, messageType: DHCPREQUEST }).d.action).toBe('ignore');
  });
});

describe('PXE port REQUEST → ACK', () => {
  test('OVMF (no 43.71): siaddr, sname = server as text, file; broadcast when ciaddr is 0', () => {
    const { d, reply } = run('ovmf-pxe', { port: 4011, messageType: DHCPREQUEST });
    expect(replied(d).kind).toBe('ack');
    expect(reply).toMatchObject({ siaddr: SERVER, sname: SERVER, file: 'ltsp/snponly.efi', ciaddr: '0.0.0.0', yiaddr: '0.0.0.0' });
    expect(getOption(reply!, 53)).toEqual(Uint8Array.of(5));
    expect(reply!.flags & FLAG_BROADCAST).toBe(FLAG_BROADCAST);
    expect(opt(reply, 43)).toBeUndefined();
  });

  test('capable UEFI iPXE with an address: the script URL, ciaddr kept', () => {
    const { reply } = run('ipxe-efi', { port: 4011, messageType: DHCPREQUEST, ciaddr: '10.0.0.50' });
    expect(reply).toMatchObject({ file: URL_SCRIPT, ciaddr: '10.0.0.50', sname: SERVER });
  });

  test('arch 9 on the PXE port: file and option 43 with discovery control 8', () => {
    const { reply } = run('efi-bc-pxe', { port: 4011, messageType: DHCPREQUEST });
    expect(reply!.file).toBe('ltsp/snponly.efi');
    expect(hex(opt(reply, 43))).toBe('060108' + '0a0400' + ascii('PXE') + 'ff');
  });

  test('BIOS with boot item 71: answered by boot type, 71 echoed, yiaddr = ciaddr', () => {
    const { d, reply } = run('bios-pxe', { port: 4011, messageType: DHCPREQUEST, ciaddr: '10.0.0.50', bootItem: 32768 });
    expect(replied(d).kind).toBe('ack');
    expect(reply).toMatchObject({ yiaddr: '10.0.0.50', ciaddr: '0.0.0.0', siaddr: SERVER, file: 'ltsp/undionly.kpxe' });
    expect(hex(opt(reply, 43))).toBe('470480000000ff');
    expect(reply!.options.map((o) => o.code)).toEqual([53, 54, 60, 97, 43]);
  });

  test('boot item for the iPXE script (iPXE runs the PXE menu), INFORM too, and on port 67', () => {
    expect(run('ipxe-bios', { port: 4011, messageType: DHCPREQUEST, ciaddr: '10.0.0.50', bootItem: 32770 }).reply!.file).toBe(URL_SCRIPT);
    expect(run('ipxe-bios', { port: 4011, messageType: DHCPINFORM, ciaddr: '10.0.0.50', bootItem: 32770 }).d.action).toBe('reply');
    expect(run('bios-pxe', { port: 67, messageType: DHCPREQUEST, ciaddr: '10.0.0.50', bootItem: 32768 }).d.action).toBe('reply');
  });

  test('boot item refusals', () => {
    expect(run('bios-pxe', { port: 4011, messageType: DHCPREQUEST, bootItem: 32768 }).d.reason).toBe('boot server request without ciaddr');
    expect(run('bios-pxe', { port: 4011, messageType: DHCPREQUEST, ciaddr: '10.0.0.5', bootItem: 40000 }).d.reason).toBe('no boot service of type 40000');
    const p = clientPacket('bios-pxe', { messageType: DHCPREQUEST, ciaddr: '10.0.0.5' });
    p.options.push({ code: 43, data: Uint8Array.of(71, 4, 0x80, 0, 0x80, 0, 255) });
    expect(decide(classify(p, { dstPort: 4011 }), policy(), SERVER).reason).toMatch(/BIS/);
  });
});

describe('per-client settings', () => {
  test('BOOT_FILE and BOOT_FILE_<ARCH> override the NBP; DEFAULT_IMAGE goes to iPXE as root-path', () => {
    const settings = {
      '52:54:00:00:00:01': { BOOT_FILE: 'ltsp/ipxe.pxe' },
      '52:54:00:00:00:04': { BOOT_FILE_EFI_X64: 'ltsp/ipxe.efi' },
      '52:54:00:00:00:02': { DEFAULT_IMAGE: 'x86_32' },
    };
    const pol = policy({ settings });
    expect(run('bios-pxe', { pol }).reply!.file).toBe('ltsp/ipxe.pxe');
    expect(parsePxeOptions(opt(run('bios-pxe', { pol }).reply, 43)!)?.menu?.[0]?.description).toBe('ipxe.pxe');
    expect(run('ovmf-pxe', { pol, port: 4011, messageType: DHCPREQUEST }).reply!.file).toBe('ltsp/ipxe.efi');
    expect(text(run('ipxe-bios', { pol }).reply, OPT.ROOT_PATH)).toBe('x86_32');
    expect(opt(run('bios-pxe', { pol }).reply, OPT.ROOT_PATH)).toBeUndefined();
  });
});

describe('GUID echo', () => {
  test('97 of 17 bytes or more is echoed as 17 bytes; shorter is not', () => {
    const p = clientPacket('ovmf-pxe');
    setOption(p, 97, Uint8Array.of(0, ...new Array(16).fill(7), 9, 9));
    const d = replied(decide(classify(p, { dstPort: 67 }), policy(), SERVER));
    expect(d.reply.options!.find((o) => o.code === 97)!.data).toEqual(Uint8Array.of(0, ...new Array(16).fill(7)));
    setOption(p, 97, encode.string('short'));
    expect(replied(decide(classify(p, { dstPort: 67 }), policy(), SERVER)).reply.options!.some((o) => o.code === 97)).toBe(false);
  });
});

describe('reply destination', () => {
  const f = (giaddr = '0.0.0.0') => ({ relayed: giaddr !== '0.0.0.0', giaddr });
  test('port 67 offer: broadcast to 68', () => {
    expect(replyDestination(f(), { broadcast: true }, { address: '0.0.0.0', port: 68 }, false)).toEqual({ address: '255.255.255.255', port: 68, broadcast: true });
  });
  test('PXE port: back to the source address and port (OVMF 4011, iPXE 68)', () => {
    expect(replyDestination(f(), {}, { address: '10.0.0.50', port: 4011 }, true)).toEqual({ address: '10.0.0.50', port: 4011, broadcast: false });
    expect(replyDestination(f(), {}, { address: '10.0.0.50', port: 68 }, true)).toEqual({ address: '10.0.0.50', port: 68, broadcast: false });
    expect(replyDestination(f(), {}, { address: '0.0.0.0', port: 68 }, true, { broadcastAddress: '127.255.255.255' })).toEqual({ address: '127.255.255.255', port: 68, broadcast: true });
  });
  test('relayed: giaddr:67', () => {
    expect(replyDestination(f('10.5.0.1'), { broadcast: true }, { address: '10.5.0.1', port: 67 }, false)).toEqual({ address: '10.5.0.1', port: 67, broadcast: false });
  });
  test('port 67 boot item ACK to a configured client: unicast to it', () => {
    expect(replyDestination(f(), { yiaddr: '10.0.0.50', ciaddr: '0.0.0.0' }, { address: '10.0.0.50', port: 68 }, false)).toEqual({ address: '10.0.0.50', port: 68, broadcast: false });
  });
});
