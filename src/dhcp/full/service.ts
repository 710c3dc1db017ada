/**
 * The full DHCP socket service: the LAN interface, its guard, the lease state machine.
 *
 * Sockets (both SO_REUSEADDR on the DHCP port):
 *  - 0.0.0.0:67 receives the broadcasts (DISCOVER, REQUEST in SELECTING/INIT-REBOOT/
 *    REBINDING); the guard (guard.ts) makes sure only the LAN card's reach it;
 *  - <LAN address>:67 receives unicast to the server (RENEWING) and sends every reply: a
 *    limited broadcast sent from a socket bound to the LAN address leaves through the LAN
 *    card (Linux ip_route_output_key: lbcast + source address → that address's device),
 *    and replies carry that address as source, as RFC 2131 §4.1 wants.
 * While the guard's check fails, or a change to it is being checked, nothing is answered
 * (a failure is logged once). Behind the
 * guard, packets whose source address is off the LAN's subnet are dropped too, and replies
 * are unicast only to addresses on it (machine.ts), so a failing guard alone does not yet
 * put a reply on another network; the guard is what makes that a guarantee.
 */
import type { Socket } from 'node:dgram';
import { DhcpDecodeError, classify, decodeDhcp } from '../../../protocols/dhcp/index.js';
import type { LoadedConfig } from '../../config/index.js';
import type { BootEventSink } from '../../events.js';
import type { Logger } from '../../log.js';
import type { MetricsRegistry } from '../../metrics.js';
import { inSubnet, servedInterfaces, type ServedInterface } from '../interfaces.js';
import { policyFromConfig } from '../policy.js';
import { assertPortFree, bindSocket } from '../service.js';
import { startGuard, type Guard, type GuardMode } from './guard.js';
import { createFullDhcp, type FullDhcp } from './index.js';
import { fullModeInterface } from './settings.js';

export interface FullDhcpServiceOptions {
  loaded: LoadedConfig;
  log: Logger;
  events?: BootEventSink;
  metrics?: MetricsRegistry;
  dryRun?: boolean;
  /** Multi-NIC guard (default auto). */
  guard?: GuardMode;
  /** Seconds between guard checks (default 5). */
  guardCheckSeconds?: number;
  clientPort?: number;
  relayPort?: number;
  /** Journal compaction threshold (records), see createFullDhcp. */
  compactAfter?: number;
  /** Where journal batches are committed, see createFullDhcp. */
  commitOn?: 'auto' | 'loop' | 'pool';
  /** Synthetic DORAs before serving, see createFullDhcp. */
  warmUp?: number;
}

export interface FullDhcpService {
  port: number;
  iface: ServedInterface;
  guard: Guard;
  full: FullDhcp;
  reload(loaded: LoadedConfig): void;
  close(): Promise<void>;
}

/** Fallback re-check period while the guard reports its changes itself. */
const WATCHED_CHECK_MS = 60_000;

const closeSocket = (s: Socket) => new Promise<void>((r) => s.close(() => r()));

export async function startFullDhcpService(opts: FullDhcpServiceOptions): Promise<FullDhcpService> {
  const { log } = opts;
  const cfg = opts.loaded.config;
  const { interfaces } = servedInterfaces(cfg.interfaces);
  const iface = fullModeInterface(opts.loaded, interfaces);
  await assertPortFree(cfg.dhcp.port);
  const guard = await startGuard({ lan: iface.name, mode: opts.guard ?? 'auto', port: cfg.dhcp.port || 67, warn: (m) => log.warn(`dhcp full: multi-NIC guard: ${m}`) });
  log.info(`dhcp full: multi-NIC guard: ${guard.describe}`);
  let full: FullDhcp | undefined;
  const sockets: Socket[] = [];
  try {
    full = await createFullDhcp({ loaded: opts.loaded, log, iface, policy: policyFromConfig(opts.loaded), events: opts.events, metrics: opts.metrics, clientPort: opts.clientPort, relayPort: opts.relayPort, dryRun: opts.dryRun, compactAfter: opts.compactAfter, commitOn: opts.commitOn, warmUp: opts.warmUp });
    const wild = await bindSocket('0.0.0.0', cfg.dhcp.port, true);
    sockets.push(wild);
    const port = wild.address().port;
    const lan = await bindSocket(iface.address, port, true);
    sockets.push(lan);
    lan.setBroadcast(true);
    let safe = true;
    const f = full;

    const onMessage = (msg: Buffer, rinfo: { address: string; port: number }, unicast: boolean) => {
      if (!safe || suspect) return;
      let packet;
      try {
        packet = decodeDhcp(msg);
      } catch (e) {
        if (!(e instanceof DhcpDecodeError)) throw e;
        log.debug(`dhcp full: dropped ${msg.length}-byte packet from ${rinfo.address}:${rinfo.port}: ${e.message}`);
        return;
      }
      // Second line of defence behind the guard: a sender with an address must be on the LAN
      // (a client, or a relay agent there); clients without one send from 0.0.0.0.
      if (rinfo.address !== '0.0.0.0' && !inSubnet(rinfo.address, iface)) {
        log.debug(`dhcp full: dropped a packet from ${rinfo.address}:${rinfo.port}: not on ${iface.name}'s subnet`);
        return;
      }
      const facts = classify(packet, { srcPort: rinfo.port, dstPort: port });
      void f.handle(packet, facts, { unicast }).then((replies) => {
        for (const r of replies) {
          lan.send(r.bytes, r.port, r.address, (err) => {
            if (err) log.warn(`dhcp full: send to ${r.address}:${r.port} failed: ${err.message}`);
          });
        }
      });
    };
    for (const s of sockets) {
      s.on('message', (msg, rinfo) => {
        try {
          onMessage(msg, rinfo, s === lan);
        } catch (e) {
          log.error(`dhcp full: error on a packet from ${rinfo.address}: ${(e as Error).stack ?? e}`);
        }
      });
      s.on('error', (e) => log.error(`dhcp full: socket error: ${e.message}`));
    }

    // Guard re-checks: on every change a watching guard reports (nft monitor) — not answering
    // until the check passes — and every few seconds otherwise; with a live watch the timer
    // checks only once a minute, as a fallback (each check forks an `nft`).
    let checking = false;
    let again = false;
    let suspect = false;
    let lastCheck = Date.now();
    const runCheck = () => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      again = false;
      lastCheck = Date.now();
      guard
        .check()
        .then((problem) => {
          if (problem && safe) log.error(`dhcp full: multi-NIC guard lost (${problem}); not answering until it is back`);
          if (!problem && !safe) log.info('dhcp full: multi-NIC guard back; answering again');
          safe = !problem;
          if (!again) suspect = false;
        })
        .finally(() => {
          checking = false;
          if (again) runCheck();
        });
    };
    const watch = guard.watch?.(() => {
      suspect = true;
      runCheck();
    });
    const timer = setInterval(() => {
      if (watch?.live() && Date.now() - lastCheck < WATCHED_CHECK_MS) return;
      runCheck();
    }, (opts.guardCheckSeconds ?? 5) * 1000);
    timer.unref();
    log.info(`dhcp full: serving ${iface.name} ${iface.address} on UDP ${port}${opts.dryRun ? ' (dry run: nothing is sent or stored)' : ''}`);

    let closed = false;
    return {
      port,
      iface,
      guard,
      full: f,
      reload: (l) => f.reload(l, policyFromConfig(l)),
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        await Promise.all(sockets.map(closeSocket));
        await f.close();
        await guard.close();
      },
    };
  } catch (e) {
    await Promise.all(sockets.map(closeSocket));
    await full?.close();
    await guard.close();
    throw e;
  }
}
