/**
 * Real firmware against `ltsp-ts serve` alone (Debian's dnsmasq only as the LAN router):
 * SeaBIOS + iPXE ROM, OVMF UEFI PXE → snponly.efi → iPXE, and OVMF UEFI HTTP Boot, with
 * kernel and initrds over HTTP, through ../shared/harness (QEMU in network namespaces the
 * harness creates and removes) via scripts/firmware-matrix.sh. Needs root and /dev/net/tun;
 * CI has both. The full matrix (6 kinds + a storm) is the same script without --cases.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';

const run = promisify(execFile);
const HARNESS = path.resolve('..', 'shared', 'harness');
const enabled = (existsSync(HARNESS) && process.getuid?.() === 0) || process.env['CI'] === 'true';
const CASES = ['bios-e1000', 'uefi-virtio-pxe', 'uefi-virtio-httpboot'];

describe.runIf(enabled)('real firmware boots from ltsp-ts serve (QEMU harness)', () => {
  let report = '';

  beforeAll(async () => {
    const r = await run('scripts/firmware-matrix.sh', ['--storm', '0', '--cases', CASES.join(' ')], { timeout: 1_500_000, maxBuffer: 32 << 20 }).catch(
      (e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: `${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`, stderr: '' }),
    );
    report = r.stdout;
    for (const line of report.split('\n').filter((l) => /RESULT:/.test(l))) console.log(line);
  }, 1_600_000);

  const result = (name: string) => new RegExp(`^${name}\\s+RESULT: (.*)$`, 'm').exec(report)?.[1] ?? `no result line for ${name}:\n${report.slice(-3000)}`;

  it('BIOS: SeaBIOS + iPXE ROM (e1000) → proxyDHCP → script, kernel, ltsp.img, initrd over HTTP', () => {
    expect(result('bios-e1000')).toMatch(/^PASS 1\/1 clients/);
  });

  it('UEFI: OVMF PXE (virtio) → 4011 → snponly.efi over TFTP → iPXE → HTTP', () => {
    expect(result('uefi-virtio-pxe')).toMatch(/^PASS 1\/1 clients/);
  });

  it('UEFI HTTP Boot: OVMF HttpBootDxe takes our HTTPClient proxy offer', () => {
    expect(result('uefi-virtio-httpboot')).toMatch(/^PASS 1\/1 clients/);
  });
});

describe.runIf(enabled)('real firmware with ltsp-ts as the only DHCP server (full mode, harness --no-router)', () => {
  let report = '';

  beforeAll(async () => {
    const r = await run('scripts/firmware-matrix.sh', ['--full-dhcp'], { timeout: 1_200_000, maxBuffer: 32 << 20 }).catch(
      (e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: `${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}`, stderr: '' }),
    );
    report = r.stdout;
    for (const line of report.split('\n').filter((l) => /RESULT:/.test(l))) console.log(line);
  }, 1_300_000);

  // PASS here includes --expect HARNESS-NET-OK: the booted initrd's own udhcpc got a lease
  // from ltsp-ts and fetched the iPXE script over HTTP.
  it('BIOS: lease + boot file for the ROM, then a lease for the booted initrd', () => {
    expect(/^full-dhcp-bios\s+RESULT: (.*)$/m.exec(report)?.[1] ?? report.slice(-3000)).toMatch(/^PASS 1\/1 clients/);
  });

  it('UEFI: lease + snponly.efi for OVMF, the script for iPXE, a lease for the booted initrd', () => {
    expect(/^full-dhcp-uefi\s+RESULT: (.*)$/m.exec(report)?.[1] ?? report.slice(-3000)).toMatch(/^PASS 1\/1 clients/);
  });
});
