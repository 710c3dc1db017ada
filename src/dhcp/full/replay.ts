/**
 * `ltsp-ts replay --dhcp-mode full`: every client DHCP packet of a capture through the full
 * DHCP state machine, in capture order and at capture time, over an empty in-memory lease
 * table (nothing is written). Same JSON line contract as proxy replay (src/dhcp/replay.ts).
 *
 * The served subnet: the server address (--server-ip, SERVER_IP, else the capture's proxy
 * server) on a /24, with DHCP_RANGE when it lies in that subnet, else LTSP's pool shape
 * .20–.250 of that /24.
 */
import { readCapture } from '../../../protocols/pcap/index.js';
import type { LoadedConfig } from '../../config/index.js';
import { intToIp, inSubnet, ipToInt, type ServedInterface } from '../interfaces.js';
import { policyFromConfig } from '../policy.js';
import { captureServerAddress, clientRequests, withReply, type ReplayLine } from '../replay.js';
import { fullModeBoot } from './boot.js';
import { LeaseTable } from './lease-table.js';
import { handleFull } from './machine.js';
import { fullPlan, hostnameFor } from './settings.js';

export function replayCaptureFull(buf: Buffer, loaded: LoadedConfig, server?: string): { server: string; lines: ReplayLine[] } {
  const cap = readCapture(buf);
  const addr = server ?? loaded.config.serverIp ?? captureServerAddress(cap.packets) ?? '192.168.67.1';
  const net = (ipToInt(addr) & 0xffffff00) >>> 0;
  const iface: ServedInterface = { name: 'replay', address: addr, netmask: '255.255.255.0', internal: false, broadcast: intToIp((net | 0xff) >>> 0) };
  const r = loaded.config.dhcp.range;
  const range = r && inSubnet(r.start, iface) && inSubnet(r.end, iface) ? r : { start: intToIp(net + 20), end: intToIp(net + 250), leaseSeconds: r?.leaseSeconds ?? 43200 };
  const withRange: LoadedConfig = { ...loaded, config: { ...loaded.config, dhcp: { ...loaded.config.dhcp, range } } };
  const plan = fullPlan(withRange, iface);
  const table = new LeaseTable(plan.pool, plan.reservations);
  const policy = policyFromConfig(loaded);
  const lines: ReplayLine[] = [];
  for (const r of clientRequests(cap.packets, policy.pxePort)) {
    // Full mode serves port 67 only: firmware gets its boot file in the lease.
    if (r.ip.dstPort !== 67) continue;
    if ('undecodable' in r) {
      lines.push(r.undecodable);
      continue;
    }
    const { ip, req, facts } = r;
    const o = handleFull(req, facts, {
      subnet: plan.subnet,
      table,
      now: ip.ts.sec * 1000 + Math.floor(ip.ts.nsec / 1e6),
      hostnameOf: (mac) => hostnameFor(loaded, mac),
      boot: (f) => fullModeBoot(f, policy, plan.subnet.server),
    });
    const line: ReplayLine = { frame: ip.frame, port: ip.dstPort, xid: facts.xidHex, mac: facts.mac, facts, action: o.action, reason: `${o.state ? `${o.state}: ` : ''}${o.reason}`, reply: null, replyHex: null };
    lines.push(o.reply ? withReply(line, req, o.reply) : line);
  }
  return { server: addr, lines };
}
