/**
 * pcap-fixtures/: real firmware captures (see pcap-fixtures/README.md). Each decodes to exactly
 * its golden text file (`<name>.golden.txt`, the `ltsp-ts decode` format), every captured DHCP
 * packet re-encodes to identical bytes, and the fixtures together cover the client kinds the
 * project must answer. Regenerate the golden files after an intended format change with
 *   UPDATE_FIXTURES=1 npx vitest run test/fixtures-golden.test.ts
 * and review the diff.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeDhcp, encodeDhcp } from '../protocols/dhcp/index.js';
import { readCapture } from '../protocols/pcap/index.js';
import { DHCP_PORTS, decodeCapture, formatCapture } from '../src/cli/commands/decode.js';

const DIR = 'pcap-fixtures';
const update = process.env.UPDATE_FIXTURES === '1';
const fixtures = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
const goldenOf = (f: string) => join(DIR, f.replace(/\.pcap(ng)?$/, '.golden.txt'));

describe('pcap fixtures', () => {
  it('are at least 6 real-firmware captures, each well under 1 MB', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(6);
    for (const f of fixtures) expect(readFileSync(join(DIR, f)).length).toBeLessThan(100_000);
  });

  for (const f of fixtures) {
    describe(f, () => {
      const buf = readFileSync(join(DIR, f));

      it('decodes to its golden file', () => {
        const text = formatCapture(decodeCapture(buf));
        if (update) writeFileSync(goldenOf(f), text);
        expect(text).toBe(readFileSync(goldenOf(f), 'utf8'));
      });

      it('agrees with tshark on frame numbers, addresses, DHCP message types and TFTP opcodes', () => {
        const out = execFileSync(
          'tshark',
          ['-r', join(DIR, f), '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'tcp.srcport', '-e', 'dhcp.option.dhcp', '-e', 'tftp.opcode'],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
        );
        const theirs = out.trim().split('\n').map((l) => l.split('|'));
        const ours = decodeCapture(buf).packets.map((p) => [
          String(p.frame),
          p.src,
          p.dst,
          p.transport === 'udp' ? String(p.srcPort) : '',
          p.transport === 'tcp' ? String(p.srcPort) : '',
          p.facts?.messageType !== undefined ? String(p.facts.messageType) : '',
          p.tftp ? String(['', 'RRQ', 'WRQ', 'DATA', 'ACK', 'ERROR', 'OACK'].indexOf(p.tftp.opcode)) : '',
        ]);
        const shown = new Set(ours.map((r) => r[0]));
        expect(ours).toEqual(theirs.filter((r) => shown.has(r[0])));
      });

      it('every DHCP packet decodes and re-encodes to identical bytes', () => {
        const dhcp = readCapture(buf).packets.filter((p) => p.protocol === 'udp' && (DHCP_PORTS.includes(p.srcPort) || DHCP_PORTS.includes(p.dstPort)));
        expect(dhcp.length).toBeGreaterThan(0);
        for (const p of dhcp) {
          expect(p.truncated, `frame ${p.frame} was cut by the capture`).toBe(false);
          const again = Buffer.from(encodeDhcp(decodeDhcp(p.payload)));
          expect(again.toString('hex'), `frame ${p.frame}`).toBe(p.payload.toString('hex'));
        }
      });
    });
  }

  it('cover BIOS, UEFI PXE, UEFI HTTP Boot, iPXE (ROM and chainloaded) and a plain Linux DHCP client', () => {
    const seen = new Set<string>();
    for (const f of fixtures) {
      for (const p of decodeCapture(readFileSync(join(DIR, f))).packets) {
        const x = p.facts;
        if (!x || x.op !== 1) continue;
        if (x.isPXE && x.arch === 0 && x.ipxe) seen.add('bios-ipxe');
        if (x.isPXE && (x.arch === 7 || x.arch === 9) && !x.ipxe) seen.add('uefi-pxe');
        if (x.isPXE && (x.arch === 7 || x.arch === 9) && x.ipxe) seen.add('uefi-ipxe');
        if (x.isHTTPClient) seen.add('uefi-httpboot');
        if (x.vendorClass === 'PXEClient') seen.add('plain-PXEClient'); // undionly.kpxe / iPXE on 4011
        if (x.bootItem) seen.add('port-4011-boot-item');
        if (!x.isPXE && !x.isHTTPClient) seen.add('non-pxe-client');
      }
    }
    expect([...seen].sort()).toEqual(
      // No 'bios-pxe': QEMU's BIOS NIC ROMs are iPXE (harness pitfall 1); the undionly chain
      // fixture has the ROM treated as plain PXE by dnsmasq's vendor-class rules instead.
      ['bios-ipxe', 'non-pxe-client', 'plain-PXEClient', 'port-4011-boot-item', 'uefi-httpboot', 'uefi-ipxe', 'uefi-pxe'].sort(),
    );
  });
});
