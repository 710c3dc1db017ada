/**
 * `ltsp-ts replay --dhcp-mode full` on the real Linux-client fixture (SeaBIOS iPXE ROM, then
 * the booted kernel's busybox udhcpc, recorded against a dnsmasq LAN router): in the place of
 * that router (--server-ip 192.168.77.254) ltsp-ts offers and acknowledges both stages, the
 * iPXE stage with the boot script and next-server, the Linux stage with a plain lease for the
 * address the router gave (what the client asked for). tshark decodes our reply bytes
 * without malformed-packet or expert warnings.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { udpFrame, writePcap } from '../protocols/pcap/index.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURE = path.join(ROOT, 'pcap-fixtures', 'bios-e1000-linux-udhcpc.pcapng');
const dir = mkdtempSync(path.join(tmpdir(), 'ltsp-ts-fullr-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Line {
  frame: number;
  action: string;
  reason: string;
  facts: { messageTypeName: string; ipxe: boolean };
  reply: { yiaddr: string; siaddr: string; file: string; options: Record<string, string> } | null;
  replyHex: string | null;
}

function replay(...args: string[]): { status: number | null; lines: Line[]; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ltsp-ts.js'), 'replay', FIXTURE, '--config', '/dev/null', '--json', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr, lines: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) };
}

const ipHex = (ip: string) => Buffer.from(ip.split('.').map(Number)).toString('hex');

describe('ltsp-ts replay --dhcp-mode full (Linux client fixture)', () => {
  test('both boot stages get OFFER and ACK with the lease options; iPXE also gets the script', () => {
    const { status, lines, stderr } = replay('--dhcp-mode', 'full', '--server-ip', '192.168.77.254');
    expect(status, stderr).toBe(0);
    expect(lines.map((l) => `${l.facts.messageTypeName}:${l.action}`)).toEqual(['DISCOVER:reply', 'REQUEST:reply', 'DISCOVER:reply', 'REQUEST:reply']);
    const [offer1, ack1, offer2, ack2] = lines.map((l) => l.reply!);
    for (const r of [offer1!, ack1!, offer2!, ack2!]) {
      expect(r.options['54']).toBe(ipHex('192.168.77.254'));
      expect(r.options['1']).toBe(ipHex('255.255.255.0'));
      expect(r.options['3']).toBe(ipHex('192.168.77.254'));
      expect(r.options['28']).toBe(ipHex('192.168.77.255'));
      expect(r.options['51']).toBe((43200).toString(16).padStart(8, '0'));
    }
    expect(offer1!.options['53']).toBe('02');
    expect(ack1!.options['53']).toBe('05');
    // The REQUESTs ask for the address the capture's router gave; we acknowledge it.
    expect(ack1!.yiaddr).toBe('192.168.77.130');
    expect(ack2!.yiaddr).toBe('192.168.77.130');
    // iPXE (capable): the script over HTTP, next-server = us, option 60 PXEClient.
    expect(ack1!.file).toBe('http://192.168.77.254:8080/ltsp/ltsp.ipxe');
    expect(ack1!.siaddr).toBe('192.168.77.254');
    expect(Buffer.from(ack1!.options['60']!, 'hex').toString()).toBe('PXEClient');
    // The booted kernel's udhcpc is no PXE client: a plain lease.
    expect(lines[3]!.facts.ipxe).toBe(false);
    expect(ack2!.file).toBe('');
    expect(ack2!.siaddr).toBe('0.0.0.0');
    expect(ack2!.options['60']).toBeUndefined();

    const frames = lines.map((l) => udpFrame({ src: '192.168.77.254', dst: '255.255.255.255', srcPort: 67, dstPort: 68, payload: Buffer.from(l.replyHex!, 'hex') }));
    const file = path.join(dir, 'full.pcap');
    writeFileSync(file, writePcap(frames));
    const t = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', '-e', 'dhcp.option.dhcp', '-e', 'dhcp.ip.your', '-e', '_ws.malformed', '-e', '_ws.expert.severity'], { encoding: 'utf8', timeout: 60_000 });
    expect(t.status).toBe(0);
    expect(t.stdout.trim().split('\n')).toEqual(['2|192.168.77.20|', '5|192.168.77.130|', '2|192.168.77.130|', '5|192.168.77.130|'].map((x) => `${x}|`));
  });

  test('as a second server on that LAN it stays out: the client chose the router', () => {
    const { lines } = replay('--dhcp-mode', 'full', '--server-ip', '192.168.77.1');
    expect(lines.filter((l) => l.facts.messageTypeName === 'REQUEST').map((l) => [l.action, l.reason])).toEqual([
      ['ignore', 'SELECTING: client chose server 192.168.77.254'],
      ['ignore', 'SELECTING: client chose server 192.168.77.254'],
    ]);
  });

  test('a bad --dhcp-mode is an error', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'ltsp-ts.js'), 'replay', FIXTURE, '--dhcp-mode', 'fast'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--dhcp-mode: expected proxy or full/);
  });
});
