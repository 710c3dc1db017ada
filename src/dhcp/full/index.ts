/**
 * Full DHCP mode as one object a socket service calls:
 *
 *   const full = await createFullDhcp({ loaded, log, iface, policy });
 *   const replies = await full.handle(packet, facts);   // after the leases are on disk
 *   for (const r of replies) socket.send(r.bytes, r.port, r.address);
 *   await full.close();
 *
 * handle() decides synchronously (machine.ts over the in-memory LeaseTable), appends the
 * lease records to the journal and resolves only once they are fsync'ed, so a reply is
 * never sent for a lease that a crash could forget. It never throws on a packet: a journal
 * failure drops the reply (the client retries) and is logged.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import {
  CLIENT_KINDS, DHCPDISCOVER, DHCPREQUEST, OPT, buildReply, classify, clientPacket, decodeDhcp, encode, encodeDhcp, setOption,
  type DhcpFacts, type DhcpPacket,
} from '../../../protocols/dhcp/index.js';
import type { LoadedConfig } from '../../config/index.js';
import type { BootEventSink } from '../../events.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import type { ServedInterface } from '../interfaces.js';
import type { DhcpPolicy } from '../policy.js';
import { fullModeBoot } from './boot.js';
import { LeaseJournal } from './lease-journal.js';
import { LeaseTable, type Lease } from './lease-table.js';
import { fullDestination, handleFull, type FullOutcome, type FullSubnet } from './machine.js';
import { fullPlan, hostnameFor } from './settings.js';

export { startGuard, GuardError, GUARD_MODES, type Guard, type GuardMode } from './guard.js';
export { fullModeInterface, fullPlan, FullModeConfigError, LTSP_POOL } from './settings.js';
export type { Lease, LeaseRecord } from './lease-table.js';

export interface FullDhcpOptions {
  loaded: LoadedConfig;
  log: Logger;
  /** The LAN interface (fullModeInterface()). */
  iface: ServedInterface;
  /** Boot policy of the proxy decision core (policyFromConfig). */
  policy: DhcpPolicy;
  events?: BootEventSink;
  metrics?: MetricsRegistry;
  /** Lease journal (default: config.dhcp.leaseFile). */
  leaseFile?: string;
  /** Compact the journal after this many appended records (default 10000). */
  compactAfter?: number;
  /** Where journal batches are committed (LeaseJournalOptions.commitOn; default auto). */
  commitOn?: 'auto' | 'loop' | 'pool';
  /** Ports replies go to: clients (68) and relays (67). */
  clientPort?: number;
  relayPort?: number;
  /** Clock (ms since epoch), for tests. */
  now?: () => number;
  /** Decide and log, write and send nothing. */
  dryRun?: boolean;
  /** Synthetic DORAs run through the packet paths before serving (default WARM_UP_DORAS; 0: none). */
  warmUp?: number;
}

/**
 * Before the first client, the packet paths (decode, classify, decide, boot file, reply
 * encoding, the JSON log line, the journal line) run this many times on synthetic clients,
 * on a scratch lease table and a logger that writes nothing (~55 ms at start). Cold
 * (interpreted, then unoptimised code), the DORAs of the first ~50 ms after a start took
 * 6-14 ms each, most of a paced bench run's p99 (bench/dhcp-full.mjs --runs paced, 6
 * alternating pairs: p99 median 6.24 ms without, 5.29 ms with; p50 0.94 -> 0.74 ms). Nothing
 * is sent, stored or logged; the real table and the policy's per-MAC caches are not touched.
 */
const WARM_UP_DORAS = 400;

export interface FullReply {
  bytes: Uint8Array;
  address: string;
  port: number;
  broadcast: boolean;
  kind: NonNullable<FullOutcome['kind']>;
}

export interface FullDhcp {
  subnet: FullSubnet;
  /**
   * Replies to send for one received packet (empty when none), resolved once the lease
   * change is durable. Never rejects. `via.unicast`: the packet was addressed to the
   * server (only for the log: RENEWING vs REBINDING).
   */
  handle(packet: DhcpPacket, facts: DhcpFacts, via?: { unicast?: boolean }): Promise<FullReply[]>;
  /** Active leases now. */
  leases(): Lease[];
  /** New ltsp.conf: reservations, hostnames and the boot policy follow it (pool and subnet need a restart). */
  reload(loaded: LoadedConfig, policy: DhcpPolicy): void;
  close(): Promise<void>;
}

/** See WARM_UP_DORAS. */
function warmUp(n: number, plan: ReturnType<typeof fullPlan>, policy: DhcpPolicy, report: (f: DhcpFacts, o: FullOutcome, to: PinoLogger, withEvents: boolean) => void): number {
  if (n <= 0) return 0;
  let table = new LeaseTable(plan.pool, new Map());
  const quiet = pino({ level: 'info', base: undefined }, { write: () => {} });
  const ctx = (now: number) => ({ subnet: plan.subnet, table, now, hostnameOf: (mac: string) => hostnameFor(policy, mac), boot: (f: DhcpFacts) => fullModeBoot(f, policy, plan.subnet.server) });
  const server = encode.ip(plan.subnet.server);
  let journalBytes = 0;
  for (let k = 0; k < n; k++) {
    if (k % 64 === 63) table = new LeaseTable(plan.pool, new Map()); // a small pool does not run out
    // Locally administered MACs (02:...) no client has; firmware kinds in turn (PXE ones take the boot path).
    const mac = `02:00:5e:${HEX[(k >> 8) & 255]}:${HEX[k & 255]}:fe`;
    const kind = CLIENT_KINDS[k % CLIENT_KINDS.length]!;
    const now = Date.now();
    const disc = decodeDhcp(encodeDhcp(clientPacket(kind, { mac, xid: k, messageType: DHCPDISCOVER })));
    const df = classify(disc, { srcPort: 68, dstPort: 67 });
    const offer = handleFull(disc, df, ctx(now));
    report(df, offer, quiet, false);
    if (!offer.reply) continue;
    const offered = decodeDhcp(encodeDhcp(buildReply(disc, offer.reply), { maxSize: 576 }));
    const req = clientPacket(kind, { mac, xid: k + 1, messageType: DHCPREQUEST });
    setOption(req, OPT.REQUESTED_IP, encode.ip(offered.yiaddr));
    setOption(req, OPT.SERVER_ID, server);
    const rp = decodeDhcp(encodeDhcp(req));
    const rf = classify(rp, { srcPort: 68, dstPort: 67 });
    const ack = handleFull(rp, rf, ctx(now));
    report(rf, ack, quiet, false);
    for (const r of ack.records) journalBytes += JSON.stringify(r).length;
    if (ack.reply) encodeDhcp(buildReply(rp, ack.reply), { maxSize: 576 });
    fullDestination(rp, ack.kind, { client: 68, relay: 67 }, plan.subnet);
  }
  return journalBytes;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export async function createFullDhcp(opts: FullDhcpOptions): Promise<FullDhcp> {
  const { log } = opts;
  const now = opts.now ?? Date.now;
  let loaded = opts.loaded;
  let policy = opts.policy;
  const plan = fullPlan(loaded, opts.iface);
  for (const w of plan.warnings) log.warn(`dhcp full: ${w}`);
  const table = new LeaseTable(plan.pool, plan.reservations);
  const file = opts.leaseFile ?? loaded.config.dhcp.leaseFile;
  const journal = await LeaseJournal.open(
    file,
    { compactAfter: opts.compactAfter, commitOn: opts.commitOn, snapshot: () => table.snapshot(now()), onError: (e) => log.error(`dhcp full: lease journal ${file}: ${e.message}`) },
    (l) => {
      for (const p of l.problems) log.warn(`dhcp full: ${p}`);
      for (const r of l.records) table.apply(r);
    },
  );
  log.info(`dhcp full: ${opts.iface.name} ${plan.subnet.server}/${plan.subnet.netmask}, pool ${plan.pool.start}-${plan.pool.end}, lease ${plan.subnet.leaseSeconds} s, ${plan.reservations.size} reservation(s), ${table.active(now()).length} active lease(s) from ${file}`);
  const m = opts.metrics;
  const replies = m?.counter('ltsp_dhcp_full_replies_total', 'full DHCP replies, by kind');
  const leasesG = m?.gauge('ltsp_dhcp_full_leases', 'active full DHCP leases');
  const events = opts.events ?? (() => {});
  const ports = { client: opts.clientPort ?? 68, relay: opts.relayPort ?? 67 };
  const broadcastAddress = opts.iface.internal ? opts.iface.broadcast : '255.255.255.255';
  let handled = 0;
  let gaugeAt = 0;

  function report(f: DhcpFacts, o: FullOutcome, to: Logger | PinoLogger = log, withEvents = true): void {
    const fields = { mac: f.mac, xid: f.xidHex, type: f.messageTypeName, state: o.state, decision: o.kind ?? 'ignore', ip: o.ip, file: o.bootFile, reason: o.reason };
    const line = `dhcp full ${f.mac} ${f.xidHex} ${f.messageTypeName}${o.state ? ` (${o.state})` : ''} → ${(o.kind ?? 'no reply').toUpperCase()}: ${o.reason}`;
    if (o.action === 'ignore' && o.records.length === 0) to.debug(fields, line);
    else to.info(fields, line);
    if (opts.events && withEvents) events({ time: now(), service: 'dhcp', kind: o.kind ?? 'ignore', mac: f.mac, ip: o.ip, file: o.bootFile, outcome: o.action === 'reply' ? 'ok' : o.reason, detail: { xid: f.xidHex, mode: 'full', state: o.state, reason: o.reason } });
  }

  // A copy of the policy whose per-MAC settings are not cached: synthetic MACs stay out of the real cache.
  // Only an optimisation: whatever goes wrong in it must not keep the service from starting.
  try {
    const t0 = performance.now();
    const bytes = warmUp(opts.warmUp ?? WARM_UP_DORAS, plan, { ...policy, clientSettings: (mac) => loaded.clientSettings(mac) }, report);
    log.debug(`dhcp full: packet paths warmed up in ${Math.round(performance.now() - t0)} ms (${bytes} journal bytes, not written)`);
  } catch (e) {
    log.debug(`dhcp full: warm-up failed (serving anyway): ${(e as Error).message}`);
  }

  return {
    subnet: plan.subnet,
    async handle(packet, facts, via) {
      let outcome: FullOutcome;
      const t = now();
      if (++handled % 256 === 0) table.pruneOffers(t);
      try {
        outcome = handleFull(packet, facts, {
          subnet: plan.subnet,
          table,
          now: t,
          // The policy's per-MAC settings: resolved once per client and config generation.
          hostnameOf: (mac) => hostnameFor(policy, mac),
          boot: (f) => fullModeBoot(f, policy, plan.subnet.server),
        });
      } catch (e) {
        log.error(`dhcp full: error on ${facts.mac} ${facts.xidHex}: ${(e as Error).stack ?? e}`);
        return [];
      }
      if (outcome.state === 'RENEWING/REBINDING' && via?.unicast !== undefined) outcome.state = via.unicast ? 'RENEWING' : 'REBINDING';
      report(facts, outcome);
      if (opts.dryRun) return [];
      try {
        await journal.append(outcome.records); // durable before anything is sent
      } catch {
        return [];
      }
      if (leasesG && outcome.records.length && t - gaugeAt > 1000) {
        gaugeAt = t; // counting is O(leases): at most once a second
        leasesG.set({}, table.active(t).length);
      }
      if (outcome.action !== 'reply' || !outcome.reply || !outcome.kind) return [];
      replies?.inc({ kind: outcome.kind });
      const dest = fullDestination(packet, outcome.kind, ports, plan.subnet, broadcastAddress);
      const bytes = encodeDhcp(buildReply(packet, outcome.reply), { maxSize: Math.max(576, facts.maxMessageSize ?? 576) });
      return [{ bytes, kind: outcome.kind, ...dest }];
    },
    leases: () => table.active(now()),
    reload(l, p) {
      loaded = l;
      policy = p;
      const next = fullPlan(l, opts.iface);
      for (const w of next.warnings) log.warn(`dhcp full: ${w}`);
      table.setReservations(next.reservations);
    },
    async close() {
      await journal.close();
    },
  };
}
