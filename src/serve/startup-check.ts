/**
 * The start-up check `serve` prints before it serves: which interfaces and addresses are
 * served, the ports, which boot files exist for which firmware (with the command that
 * fixes a missing one), the images found and whether their kernels are extracted, and any
 * port already taken (a running dnsmasq on 67/69 is the usual one) — an error, so the
 * daemon exits instead of sharing a port with another DHCP/TFTP server.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import { scanBootImages } from '../boot/images.js';
import { DEFAULT_BOOT_FILES } from '../dhcp/policy.js';
import { servedInterfaces, type ServedInterface } from '../dhcp/interfaces.js';
import { describeHolder, findPortHolders } from './port-owner.js';

export interface StartupReport {
  /** Human-readable lines, in order. */
  lines: string[];
  warnings: string[];
  errors: string[];
  addresses: ServedInterface[];
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

export interface StartupCheckOptions {
  dryRun?: boolean;
  /** Ports to check for other holders (skip for the ephemeral ports of tests). */
  checkPorts?: boolean;
}

export async function startupCheck(loaded: LoadedConfig, opts: StartupCheckOptions = {}): Promise<StartupReport> {
  const c = loaded.config;
  const r: StartupReport = { lines: [], warnings: [], errors: [], addresses: [] };
  const warn = (m: string) => r.warnings.push(m);

  // Interfaces and the address clients are told about.
  const { interfaces: served, missing } = servedInterfaces(c.interfaces);
  r.addresses = served;
  for (const m of missing) r.errors.push(`interface ${m} (from INTERFACES / --interface) does not exist or has no IPv4 address`);
  if (served.length === 0 && missing.length === 0) warn('no IPv4 interface other than loopback: clients on a LAN cannot reach this server');
  r.lines.push(
    `interfaces: ${served.map((a) => `${a.name} ${a.address}/${a.netmask}`).join(', ') || '(none)'}` +
      (c.serverIp ? `; clients are told server ${c.serverIp} (SERVER_IP / --server-ip)` : ''),
  );

  // Services and ports.
  const dhcpOn = c.dhcp.mode !== 'off';
  r.lines.push(
    `services: ${[
      dhcpOn ? `DHCP ${c.dhcp.mode} on UDP ${c.dhcp.port}${c.dhcp.mode === 'proxy' ? ` + ${c.dhcp.pxePort}` : ''}` : 'DHCP off',
      c.tftp.enabled ? `TFTP on UDP ${c.tftp.port} (root ${c.tftpDir})` : 'TFTP off',
      c.http.enabled ? `HTTP on TCP ${c.http.port}` : 'HTTP off',
    ].join('; ')}${opts.dryRun ? ' — DRY RUN: nothing will be sent' : ''}`,
  );
  if (opts.checkPorts !== false) {
    const wanted: { proto: 'udp' | 'tcp'; port: number }[] = [];
    if (dhcpOn) wanted.push({ proto: 'udp', port: c.dhcp.port });
    // Full mode hands firmware its boot file in the lease and does not bind the PXE port.
    if (c.dhcp.mode === 'proxy') wanted.push({ proto: 'udp', port: c.dhcp.pxePort });
    if (c.tftp.enabled) wanted.push({ proto: 'udp', port: c.tftp.port });
    if (c.http.enabled) wanted.push({ proto: 'tcp', port: c.http.port });
    for (const h of await findPortHolders(wanted)) {
      const hint = h.command === 'dnsmasq' ? ' (stop it: systemctl disable --now dnsmasq; ltsp-ts replaces it)' : '';
      r.errors.push(describeHolder(h) + hint);
    }
  }

  // Boot files per firmware.
  const ltsp = path.join(c.tftpDir, 'ltsp');
  const bootFiles: Record<string, string> = { ...DEFAULT_BOOT_FILES, ...c.dhcp.bootFiles };
  const firmware: [string, string][] = Object.entries(bootFiles).filter(([, f]) => f !== '');
  for (const [arch, file] of firmware) {
    const ok = await isFile(path.join(c.tftpDir, file));
    r.lines.push(`boot file for ${arch}: ${file} ${ok ? 'ok' : 'MISSING'}`);
    if (!ok) warn(`${arch} clients will fail: ${path.join(c.tftpDir, file)} is missing (run: ltsp-ts ipxe)`);
  }
  if (!(await isFile(path.join(ltsp, 'ltsp.img')))) {
    warn(`${path.join(ltsp, 'ltsp.img')} is missing: LTSP clients need it (run LTSP's: ltsp initrd)`);
  }

  // Images and their kernels.
  const found = await scanBootImages(c.baseDir);
  const names = [...found.images, ...found.chroots];
  r.lines.push(`images in ${c.baseDir}: ${found.images.join(', ') || '(none)'}; chroots: ${found.chroots.join(', ') || '(none)'}`);
  if (names.length === 0) warn(`no image in ${path.join(c.baseDir, 'images')}: build one with ltsp-ts image`);
  for (const name of names) {
    const k = await isFile(path.join(ltsp, name, 'vmlinuz'));
    const i = await isFile(path.join(ltsp, name, 'initrd.img'));
    if (!k || !i) warn(`image ${name}: ${!k ? 'vmlinuz' : 'initrd.img'} missing in ${path.join(ltsp, name)} (run: ltsp-ts kernel ${name})`);
  }
  for (const s of found.skipped) warn(`skipped ${s.path}: ${s.reason}`);
  return r;
}
