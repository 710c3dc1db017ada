/**
 * What full DHCP mode serves, from the config and the LAN interface (pure):
 *  - the LAN: the interface whose subnet holds DHCP_RANGE, or, without DHCP_RANGE, the one
 *    with a 192.168.67.x address (LTSP's dual-NIC default: pool .20–.250, 12 h);
 *  - router and DNS default to the server's LAN address (LTSP's dnsmasq: router = the
 *    server; DNS_SERVER `0.0.0.0` means the server, as in dnsmasq);
 *  - reservations: `IP=` in ltsp.conf `[<MAC>]` sections; HOSTNAME from the client's
 *    sections (option 12).
 */
import type { LoadedConfig } from '../../config/index.js';
import { inSubnet, intToIp, ipToInt, type ServedInterface } from '../interfaces.js';
import type { FullSubnet } from './machine.js';
import type { PoolRange } from './lease-table.js';

/** LTSP's dual-NIC network and pool (ltsp dnsmasq: dhcp-range=192.168.67.20,192.168.67.250,12h). */
export const LTSP_LAN = { address: '192.168.67.0', netmask: '255.255.255.0' };
export const LTSP_POOL = { start: '192.168.67.20', end: '192.168.67.250', leaseSeconds: 12 * 3600 };
/** How long an OFFER holds its address, and a DECLINEd address stays out (dnsmasq: 10 min). */
export const OFFER_HOLD_MS = 60_000;
export const DECLINE_HOLD_MS = 600_000;

export class FullModeConfigError extends Error {}

export interface FullPlan {
  iface: ServedInterface;
  subnet: FullSubnet;
  pool: PoolRange;
  /** MAC → reserved address. */
  reservations: Map<string, string>;
  /** Problems that do not stop full mode (bad IP= lines, ...). */
  warnings: string[];
}

function range(loaded: LoadedConfig) {
  return loaded.config.dhcp.range;
}

/** The interface full mode serves: the one whose subnet holds the pool. */
export function fullModeInterface(loaded: LoadedConfig, candidates: readonly ServedInterface[]): ServedInterface {
  const r = range(loaded);
  const fits = candidates.filter((i) => (r ? inSubnet(r.start, i) && inSubnet(r.end, i) : inSubnet(i.address, LTSP_LAN)));
  const names = [...new Set(fits.map((i) => i.name))];
  const seen = candidates.map((i) => `${i.name} ${i.address}/${i.netmask}`).join(', ') || 'none';
  if (names.length === 0) {
    throw new FullModeConfigError(
      r
        ? `full DHCP mode: no served interface has a subnet holding DHCP_RANGE ${r.start}-${r.end} (interfaces: ${seen}); give the LAN card an address in that subnet or fix DHCP_RANGE/INTERFACES`
        : `full DHCP mode: set DHCP_RANGE=START,END[,LEASE] (or --dhcp-range), or give the LAN card a 192.168.67.x address for LTSP's default pool (interfaces: ${seen})`,
    );
  }
  if (names.length > 1) throw new FullModeConfigError(`full DHCP mode: interfaces ${names.join(' and ')} are both on the pool's subnet; name one with INTERFACES= (--interface)`);
  return fits[0]!;
}

export function fullPlan(loaded: LoadedConfig, iface: ServedInterface): FullPlan {
  const c = loaded.config;
  const r = range(loaded) ?? LTSP_POOL;
  const server = c.serverIp ?? iface.address;
  const warnings: string[] = [];
  const exclude = [iface.address, server, iface.broadcast, networkOf(iface)];
  const dns = c.dhcp.dnsServers.map((d) => (d === '0.0.0.0' ? server : d));
  const domain = loaded.serverSettings.SEARCH_DOMAIN?.split(/\s+/)[0];
  const reservations = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const m of loaded.macSections()) {
    const ip = m.settings.IP?.trim();
    if (!ip) continue;
    const where = `${c.configFile}:${m.line}`;
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || !inSubnet(ip, iface)) {
      warnings.push(`${where}: [${m.mac}] IP=${ip} is not an address on ${iface.name}'s subnet; no reservation`);
      continue;
    }
    if (exclude.includes(ip)) {
      warnings.push(`${where}: [${m.mac}] IP=${ip} is the server's or the network's address; no reservation`);
      continue;
    }
    if (taken.has(ip)) {
      warnings.push(`${where}: [${m.mac}] IP=${ip} is already reserved for ${taken.get(ip)}; no reservation`);
      continue;
    }
    taken.set(ip, m.mac);
    reservations.set(m.mac, ip);
  }
  return {
    iface,
    reservations,
    warnings,
    pool: { start: r.start, end: r.end, exclude },
    subnet: {
      server,
      netmask: iface.netmask,
      broadcast: iface.broadcast,
      leaseSeconds: r.leaseSeconds ?? LTSP_POOL.leaseSeconds,
      router: c.dhcp.router ?? server,
      dnsServers: dns.length ? dns : [server],
      domainName: domain || undefined,
      offerHoldMs: OFFER_HOLD_MS,
      declineHoldMs: DECLINE_HOLD_MS,
    },
  };
}

function networkOf(i: ServedInterface): string {
  return intToIp((ipToInt(i.address) & ipToInt(i.netmask)) >>> 0);
}

/**
 * HOSTNAME for option 12, unless it is an LTSP template (%{...}, $VAR) only a client can
 * expand. `settings`: the config's, or a policy's cached per MAC (policyFromConfig).
 */
export function hostnameFor(settings: Pick<LoadedConfig, 'clientSettings'>, mac: string): string | undefined {
  const h = settings.clientSettings(mac).HOSTNAME?.trim();
  return h && !/[%$]/.test(h) && /^[A-Za-z0-9.-]{1,63}$/.test(h) ? h : undefined;
}
