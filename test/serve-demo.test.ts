import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('ltsp-ts demo (README main job)', () => {
  it('walks a captured UEFI client through DHCP, 4011, TFTP and HTTP and prints its timeline', async () => {
    const { stdout } = await run('node', ['bin/ltsp-ts.js', 'demo'], { timeout: 60_000 });
    expect(stdout).toMatch(/OVMF\) DHCPDISCOVER \(52:54:00:77:00:01\) → OFFER: siaddr 127\.0\.0\.1, file \(empty/);
    expect(stdout).toMatch(/boot-server REQUEST .* → ACK: siaddr 127\.0\.0\.1, file ltsp\/snponly\.efi/);
    expect(stdout).toMatch(/proxyDHCP REQUEST .* → ACK: .* file http:\/\/127\.0\.0\.1:\d+\/ltsp\/ltsp\.ipxe/);
    expect(stdout).toMatch(/TFTP ltsp\/snponly\.efi: \d+ bytes, blksize 1468, windowsize 4, sha256 \w+ \(matches the file\)/);
    expect(stdout).toMatch(/HTTP \/ltsp\/x86_64\/vmlinuz: 200, 2097152 bytes/);
    // The timeline joined DHCP (by MAC) with TFTP and HTTP (by the IP the 4011 request revealed).
    const timeline = stdout.slice(stdout.indexOf('Boot timeline'));
    expect(timeline).toMatch(/52:54:00:77:00:01 \(127\.0\.0\.1\) efi-x64: reached initrd/);
    for (const stage of ['[dhcp]', '[nbp] tftp', '[script] http', '[kernel] http', '[initrd] http']) expect(timeline).toContain(stage);
  });
});
