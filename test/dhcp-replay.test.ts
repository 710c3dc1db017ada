/**
 * `ltsp-ts replay`: the JSON contract, and our replies compared with the dnsmasq 2.90
 * replies recorded in pcap-fixtures/ (same LTSP config; HTTP off so the script is the TFTP
 * path dnsmasq hands out): byte-identical where the fixture's server ran LTSP's defaults.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeDhcp } from '../protocols/dhcp/index.js';
import { readCapture } from '../protocols/pcap/index.js';
import { loadConfigText } from '../src/config/load.js';
import { replayCapture } from '../src/dhcp/replay.js';

const root = join(import.meta.dirname, '..');
const fixture = (name: string) => join(root, 'pcap-fixtures', `${name}.pcapng`);

/** dnsmasq's reply to a client packet: the next server packet to the client with the same xid, from the same port family. */
function dnsmasqReply(file: string, frame: number, port: number, xid: number, server: string): string | undefined {
  for (const p of readCapture(readFileSync(file)).packets) {
    if (p.frame <= frame || p.protocol !== 'udp' || p.src !== server || p.srcPort !== port) continue;
    try {
      const d = decodeDhcp(p.payload);
      if (d.op === 2 && d.xid === xid) return Buffer.from(p.payload).toString('hex');
    } catch {
      // not DHCP
    }
  }
  return undefined;
}

describe('replay against dnsmasq (LTSP config, HTTP off)', () => {
  const noHttp = loadConfigText('', { overrides: { http: { enabled: false } } });
  test.each([
    ['bios-e1000-ipxerom', [1, 6]],
    ['bios-virtio-ipxerom', [1, 6]],
    ['bios-e1000-undionly-chain', [6, 15, 20]],
    ['uefi-e1000-ipxeefirom', [1, 4, 9]],
    ['uefi-virtio-ovmfpxe-snponly', [1, 6, 18, 23]],
    ['uefi-virtio-ovmfpxe-ipxeefi', [1, 18, 23]],
  ] as const)('%s: frames %j answered byte for byte like dnsmasq', (name, frames) => {
    const { server, lines } = replayCapture(readFileSync(fixture(name)), noHttp);
    expect(server).toBe('192.168.77.1');
    for (const frame of frames) {
      const l = lines.find((x) => x.frame === frame)!;
      expect(l.action, `frame ${frame}: ${l.reason}`).toBe('reply');
      expect(l.replyHex, `frame ${frame}`).toBe(dnsmasqReply(fixture(name), frame, l.port, parseInt(l.xid, 16), server));
    }
    // REQUESTs to port 67 belong to the LAN's router: neither dnsmasq's proxy nor we answer them.
    for (const l of lines.filter((x) => x.port === 67 && x.facts?.messageTypeName === 'REQUEST')) expect(l.action).toBe('ignore');
  });

  test('initramfs/OS DHCP (no PXEClient, no option 93) is ignored as dnsmasq does', () => {
    const { lines } = replayCapture(readFileSync(fixture('bios-e1000-linux-udhcpc')), noHttp);
    expect(lines.filter((l) => l.facts?.vendorClass === 'LTSP-harness').map((l) => l.action)).toEqual(['ignore', 'ignore']);
  });

  test('UEFI HTTP Boot (dnsmasq proxy mode ignores it; we offer the URL)', () => {
    const { lines } = replayCapture(readFileSync(fixture('uefi-virtio-httpboot-fulldhcp')), loadConfigText(''));
    expect(lines[0]).toMatchObject({ action: 'reply', reply: { file: 'http://192.168.77.1:8080/ltsp/snponly.efi', options: { '60': Buffer.from('HTTPClient').toString('hex') } } });
  });
});

test('ltsp-ts replay --json: exactly the documented fields, one line per client packet', () => {
  const out = execFileSync('node', [join(root, 'bin/ltsp-ts.js'), 'replay', fixture('bios-e1000-ipxerom'), '--json', '--server-ip', '10.1.2.3', '--log-level', 'silent'], { encoding: 'utf8', timeout: 30_000 });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => l.frame)).toEqual([1, 4, 6]);
  for (const l of lines) expect(Object.keys(l)).toEqual(['frame', 'port', 'xid', 'mac', 'facts', 'action', 'reason', 'reply', 'replyHex']);
  expect(lines[0]).toMatchObject({ port: 67, mac: '52:54:00:77:00:01', action: 'reply', reply: { op: 2, yiaddr: '0.0.0.0', siaddr: '0.0.0.0', file: 'http://10.1.2.3:8080/ltsp/ltsp.ipxe', options: { '53': '02', '54': '0a010203' } } });
  expect(lines[1]).toMatchObject({ action: 'ignore', reply: null, replyHex: null });
});

test('ltsp-ts replay on a missing file and on a non-capture: clear errors', () => {
  const run = (f: string) => {
    try {
      execFileSync('node', [join(root, 'bin/ltsp-ts.js'), 'replay', f, '--log-level', 'silent'], { encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
      return '';
    } catch (e) {
      return String((e as { stderr: string }).stderr);
    }
  };
  expect(run('/nonexistent/x.pcap')).toMatch(/replay: cannot read \/nonexistent\/x.pcap: ENOENT/);
  expect(run(join(root, 'package.json'))).toMatch(/replay: .*package.json: not a pcap/);
});
