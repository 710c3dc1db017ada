/**
 * The daemon: proxyDHCP, TFTP and HTTP from one config, one metrics registry and one boot
 * timeline. SIGHUP reloads ltsp.conf (per-client settings, menu, DHCP policy) while
 * transfers in flight continue; SIGTERM stops accepting and lets transfers finish (bounded).
 */
import { readFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { LoadedConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { BootEvent } from '../events.js';
import { MetricsRegistry } from '../metrics.js';
import { startDhcpService } from '../dhcp/service.js';
import { startFullDhcpService, type FullDhcpService } from '../dhcp/full/service.js';
import type { GuardMode } from '../dhcp/full/guard.js';
import { startTftpServer } from '../tftp/server.js';
import { startHttpServer } from '../http/server.js';
import { BootTimeline } from './timeline.js';
import { packageFile } from '../paths.js';

export interface DaemonOptions {
  loaded: LoadedConfig;
  log: Logger;
  /** DHCP: receive and decide, log what would be sent, send nothing; TFTP/HTTP are not started. */
  dryRun?: boolean;
  /** DHCP client port (68; the demo and tests use an unprivileged one). */
  dhcpClientPort?: number;
  /** Full DHCP mode: the multi-NIC guard (default auto, see src/dhcp/full/guard.ts). */
  dhcpGuard?: GuardMode;
  /** Re-reads the configuration (SIGHUP). */
  reloadConfig?: () => Promise<LoadedConfig>;
}

export interface Daemon {
  timeline: BootTimeline;
  metrics: MetricsRegistry;
  ports: { dhcp?: number; pxe?: number; tftp?: number; http?: number };
  /** Re-read the config: per-client settings, DHCP policy and the iPXE menu follow it. */
  reload(): Promise<void>;
  /** Stop accepting, let running transfers finish for up to drainMs, then close. */
  stop(drainMs?: number): Promise<void>;
}

const DASHBOARD = packageFile('web', 'index.html');

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { log } = opts;
  let loaded = opts.loaded;
  const config = loaded.config;
  const metrics = new MetricsRegistry();
  const timeline = new BootTimeline();
  const events = (e: BootEvent) => timeline.record(e);
  const ports: Daemon['ports'] = {};
  const closers: ((drainMs: number) => Promise<void>)[] = [];

  /** The config as the DHCP service must see it: with the ports the services really bound. */
  const withBoundPorts = (l: LoadedConfig): LoadedConfig =>
    ports.http === undefined ? l : { ...l, config: { ...l.config, http: { ...l.config.http, port: ports.http } } };

  const stopAll = async (drainMs: number) => {
    // Reverse order of start; every service gets the same drain budget at once.
    await Promise.allSettled(closers.splice(0).reverse().map((c) => c(drainMs)));
  };

  let dhcp: Awaited<ReturnType<typeof startDhcpService>> | undefined;
  let fullDhcp: FullDhcpService | undefined;
  try {
    if (config.tftp.enabled && !opts.dryRun) {
      const tftp = await startTftpServer({ root: config.tftpDir, config: config.tftp, log, events, metrics });
      ports.tftp = tftp.port;
      closers.push((ms) => tftp.close(ms));
    }
    if (config.http.enabled && !opts.dryRun) {
      const routes = (app: FastifyInstance) => {
        app.get('/api/clients', async () => ({ server: config.serverIp ?? '', clients: timeline.list() }));
        app.get<{ Params: { id: string } }>('/api/clients/:id', async (req, reply) => {
          const c = timeline.get(req.params.id);
          return c ?? reply.code(404).send({ error: 'unknown client' });
        });
        app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(await readFile(DASHBOARD)));
      };
      const http = await startHttpServer({
        config,
        log,
        events,
        metrics,
        routes,
        // The iPXE script is generated per request from the config as it is now (SIGHUP swaps it).
        loaded: () => loaded,
      });
      ports.http = http.port;
      closers.push((ms) => http.close(ms));
    }
    // DHCP last: clients are only sent to services that already listen, and the URLs it
    // hands out carry the HTTP port actually bound (0 = ephemeral in tests and the demo).
    if (config.dhcp.mode === 'full') {
      const f = await startFullDhcpService({ loaded: withBoundPorts(loaded), log, events, metrics, dryRun: opts.dryRun, clientPort: opts.dhcpClientPort, guard: opts.dhcpGuard });
      fullDhcp = f;
      ports.dhcp = f.port;
      closers.push(() => f.close());
    } else if (config.dhcp.mode !== 'off') {
      dhcp = await startDhcpService({ loaded: withBoundPorts(loaded), log, events, metrics, dryRun: opts.dryRun, clientPort: opts.dhcpClientPort });
      ports.dhcp = dhcp.ports.dhcp;
      ports.pxe = dhcp.ports.pxe;
      closers.push(() => dhcp!.close());
    }
  } catch (err) {
    await stopAll(0);
    throw err;
  }

  return {
    timeline,
    metrics,
    ports,
    async reload() {
      if (!opts.reloadConfig) return;
      const next = await opts.reloadConfig();
      const changedPorts =
        next.config.dhcp.port !== config.dhcp.port || next.config.tftp.port !== config.tftp.port || next.config.http.port !== config.http.port;
      if (changedPorts) log.warn('reload: port changes take effect after a restart');
      loaded = next;
      dhcp?.reload(withBoundPorts(next));
      fullDhcp?.reload(withBoundPorts(next));
      log.info('reload: configuration re-read; transfers in flight continue');
    },
    stop: stopAll,
  };
}
