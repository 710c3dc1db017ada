/** `ltsp-ts decode`: golden text, JSON lines, clear errors with exit code 1. Needs `npx tsc -p .` (dist/). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'pc-decode-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync('node', ['bin/ltsp-ts.js', 'decode', ...args], { encoding: 'utf8', timeout: 30_000 });
const fixture = 'pcap-fixtures/uefi-virtio-ovmfpxe-snponly.pcapng';

describe('ltsp-ts decode', () => {
  it('prints the golden-file format', () => {
    const r = run(fixture);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(fixture.replace('.pcapng', '.golden.txt'), 'utf8'));
  });

  it('--json prints one parseable object per DHCP/TFTP/HTTP packet with frame numbers and facts', () => {
    const r = run(fixture, '--json');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.length).toBe(36);
    expect(lines.map((l) => l.frame)).toEqual(Array.from({ length: 36 }, (_, i) => i + 1));
    const first = lines[0]!;
    expect(first).toMatchObject({ kind: 'dhcp', src: '0.0.0.0', srcPort: 68, dstPort: 67, facts: { messageTypeName: 'DISCOVER', arch: 7, isPXE: true, ipxe: false } });
    // OVMF's boot-server request goes from port 4011 to 4011 (harness pitfall 3).
    expect(lines.find((l) => l.dstPort === 4011)).toMatchObject({ srcPort: 4011, facts: { messageTypeName: 'REQUEST' } });
    expect(lines.find((l) => l.kind === 'tftp')).toMatchObject({ tftp: { opcode: 'RRQ', filename: 'ltsp/snponly.efi' } });
    const opt60 = first.dhcp.options.find((o: { code: number }) => o.code === 60);
    expect(opt60).toEqual({ code: 60, name: 'vendorClass', value: 'PXEClient:Arch:00007:UNDI:003000', hex: Buffer.from('PXEClient:Arch:00007:UNDI:003000').toString('hex') });
  });

  it('missing file: clear error, exit 1', () => {
    const r = run(join(dir, 'nope.pcap'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/decode: cannot read .*nope\.pcap: ENOENT/);
    expect(r.stdout).toBe('');
  });

  it('malformed file: clear error, exit 1', () => {
    const notPcap = join(dir, 'not.pcap');
    writeFileSync(notPcap, 'hello world, not a capture');
    const r = run(notPcap);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not a pcap or pcapng file \(starts with 68656c6c\)/);
    const cut = join(dir, 'cut.pcapng');
    const b = readFileSync(fixture);
    writeFileSync(cut, b.subarray(0, b.length - 10));
    const r2 = run(cut);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/^ltsp-ts: decode: .*cut\.pcapng: .*\(at byte \d+\)\n$/);
  });
});
