/**
 * Real firmware against `ltsp-ts serve` alone (Debian's dnsmasq only as the LAN router):
 * SeaBIOS + iPXE ROM, OVMF UEFI PXE → snponly.efi → iPXE, and OVMF UEFI HTTP Boot, with
 * kernel and initrds over HTTP, through ../shared/harness (QEMU in network namespaces the
 * harness creates and removes). Needs root and /dev/net/tun; CI has both. The full matrix
 * (6 kinds + a storm) is `scripts/firmware-matrix.sh` (README, "Real firmware").
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { prepareFirmwareTree, HARNESS, HARNESS_ASSETS } from './firmware-tree.js';

const run = promisify(execFile);
const enabled = (existsSync(HARNESS) && process.getuid?.() === 0) || process.env['CI'] === 'true';

describe.runIf(enabled)('real firmware boots from ltsp-ts serve (QEMU harness)', () => {
  let serverCmd = '';

  beforeAll(async () => {
    const tree = await prepareFirmwareTree();
    serverCmd = `node bin/ltsp-ts.js serve --config ${tree.conf} --tftp-dir ${tree.tftpDir} --base-dir ${tree.baseDir} --interface srv0 --http-port 8080`;
  }, 900_000);

  const boot = async (label: string, args: string[]) => {
    const r = await run(path.join(HARNESS, 'boot-test.sh'), ['--ipv6-ra', '--label', label, '--timeout', '300', ...args, '--server-cmd', serverCmd], {
      timeout: 480_000,
      env: { ...process.env, HARNESS_ASSETS },
      maxBuffer: 16 << 20,
    }).catch((e: { stdout?: string; stderr?: string; message: string }) => ({ stdout: `${e.stdout ?? ''}\n${e.stderr ?? ''}\n${e.message}` , stderr: '' }));
    const result = /RESULT: .*/.exec(r.stdout)?.[0] ?? '(no RESULT line)';
    console.log(`${label}: ${result}`);
    return r.stdout;
  };

  it('BIOS: SeaBIOS + iPXE ROM (e1000) → proxyDHCP → script, kernel, ltsp.img, initrd over HTTP', async () => {
    const out = await boot('ltspts-ci-bios', ['--firmware', 'bios', '--nic', 'e1000']);
    expect(out).toMatch(/RESULT: PASS 1\/1 clients/);
  }, 600_000);

  it('UEFI: OVMF PXE (virtio) → 4011 → snponly.efi over TFTP → iPXE → HTTP', async () => {
    const out = await boot('ltspts-ci-uefi', ['--firmware', 'uefi', '--nic', 'virtio']);
    expect(out).toMatch(/RESULT: PASS 1\/1 clients/);
  }, 600_000);

  it('UEFI HTTP Boot: OVMF HttpBootDxe takes our HTTPClient proxy offer', async () => {
    const out = await boot('ltspts-ci-httpboot', ['--firmware', 'uefi', '--nic', 'virtio', '--uefi-boot', 'http']);
    expect(out).toMatch(/RESULT: PASS 1\/1 clients/);
  }, 600_000);
});
