/**
 * Boot information for PXE and UEFI HTTP Boot clients in full mode, from the same decision
 * core as proxy mode (decide.ts): the client is asked about as if it had sent its DISCOVER
 * to a proxy, and the boot file it would be told (also when a proxy would tell it only on
 * the PXE port, dnsmasq's UEFI workaround) goes into the lease's file field with
 * next-server = this server. Option 43 (the PXE menu) only for a Raspberry Pi that asks for
 * it (ltsp-behaviour.md §4.2 "Real-DHCP subnet": menus in non-proxy subnets broke UEFI
 * boot, LTSP #415/#417).
 */
import { DHCPDISCOVER, OPT, type DhcpFacts } from '../../../protocols/dhcp/index.js';
import { decide } from '../decide.js';
import type { DhcpPolicy } from '../policy.js';
import type { BootInfo } from './machine.js';

/** Options of the proxy reply a full-mode lease carries along (54 is the lease's own). */
const CARRIED = new Set<number>([OPT.VENDOR_CLASS, OPT.CLIENT_GUID, OPT.ROOT_PATH, OPT.BOOTFILE]);

export function fullModeBoot(f: DhcpFacts, policy: DhcpPolicy, server: string): BootInfo | undefined {
  if (!f.isPXE && !f.isHTTPClient) return undefined;
  const asDiscover: DhcpFacts = { ...f, messageType: DHCPDISCOVER, messageTypeName: 'DISCOVER' };
  delete asDiscover.dstPort;
  delete asDiscover.bootItem;
  const d = decide(asDiscover, policy, server);
  if (d.action !== 'reply') return undefined;
  const wantsMenu = f.raspberryPi && (f.requestedParams ?? []).includes(OPT.VENDOR_SPECIFIC);
  const options = (d.reply.options ?? []).filter((o) => CARRIED.has(o.code) || (wantsMenu && o.code === OPT.VENDOR_SPECIFIC));
  // decide()'s reason speaks of proxy ports; in full mode the file comes with the lease.
  const who = `${f.isHTTPClient ? 'HTTP Boot ' : ''}${f.archName ?? `arch ${f.arch}`}${f.ipxe ? ' iPXE' : ''}`;
  return { siaddr: server, file: d.bootFile, options, reason: `${who} boots ${d.bootFile}` };
}
