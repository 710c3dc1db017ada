/**
 * The interfaces the DHCP service serves, and which one a packet belongs to.
 *
 * Node's dgram has no IP_PKTINFO and no SO_BINDTODEVICE, so a broadcast DISCOVER arriving
 * on 0.0.0.0:67 does not say which NIC it came through. What Linux does give us:
 *  - a unicast packet to an interface address is delivered to the socket bound to that
 *    address (more specific than 0.0.0.0), so per-interface sockets tell us the interface;
 *  - a limited broadcast (255.255.255.255) sent from a socket bound to an interface's
 *    address leaves through the device that owns the address (ip_route_output_key: lbcast
 *    with a source address → __ip_dev_find(saddr)).
 * So a broadcast DISCOVER is answered once per served interface, each reply from that
 * interface's address and with that address as option 54/siaddr; a client only hears the
 * reply sent on its own link. Interfaces not in `interfaces` never send anything.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export interface ServedInterface {
  name: string;
  address: string;
  netmask: string;
  /** Loopback: replies "broadcast" to the subnet broadcast address instead of 255.255.255.255. */
  internal: boolean;
  /** Subnet-directed broadcast (e.g. 10.0.0.255). */
  broadcast: string;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => ((a << 8) | (Number(o) & 0xff)) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

export function inSubnet(ip: string, iface: Pick<ServedInterface, 'address' | 'netmask'>): boolean {
  const mask = ipToInt(iface.netmask);
  return ((ipToInt(ip) & mask) >>> 0) === ((ipToInt(iface.address) & mask) >>> 0);
}

export interface InterfaceSelection {
  interfaces: ServedInterface[];
  /** Configured names that are missing or have no IPv4 address. */
  missing: string[];
}

/**
 * IPv4 addresses of the configured interfaces (all non-loopback ones when the list is
 * empty). Loopback is served only when named explicitly (tests, demos).
 */
export function servedInterfaces(
  wanted: readonly string[],
  nets: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): InterfaceSelection {
  const out: ServedInterface[] = [];
  const missing: string[] = [];
  const names = wanted.length ? wanted : Object.keys(nets);
  for (const name of names) {
    const v4 = (nets[name] ?? []).filter((a) => a.family === 'IPv4' && (wanted.length > 0 || !a.internal));
    if (v4.length === 0 && wanted.length) missing.push(name);
    for (const a of v4) {
      const mask = ipToInt(a.netmask);
      out.push({ name, address: a.address, netmask: a.netmask, internal: a.internal, broadcast: intToIp((ipToInt(a.address) | ~mask) >>> 0) });
    }
  }
  return { interfaces: out, missing };
}

/**
 * Which served interfaces a packet that arrived on the wildcard socket is answered on:
 * relayed → the one facing the relay; from a configured client → its subnet's; from
 * 0.0.0.0 (a DISCOVER) → every served interface.
 */
export function interfacesForPacket(ifaces: readonly ServedInterface[], src: string, giaddr: string): ServedInterface[] {
  if (giaddr !== '0.0.0.0') {
    const near = ifaces.find((i) => inSubnet(giaddr, i)) ?? ifaces.find((i) => inSubnet(src, i)) ?? ifaces[0];
    return near ? [near] : [];
  }
  if (src !== '0.0.0.0') return ifaces.filter((i) => inSubnet(src, i)).slice(0, 1);
  // One reply per link: the first address of each interface (worked out once per list; the
  // caller only reads it).
  let links = perLink.get(ifaces);
  if (!links) perLink.set(ifaces, (links = ifaces.filter((i, k) => ifaces.findIndex((j) => j.name === i.name) === k)));
  return links;
}
const perLink = new WeakMap<readonly ServedInterface[], ServedInterface[]>();
