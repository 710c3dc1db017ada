/**
 * `ltsp-ts serve`: proxyDHCP, TFTP and HTTP in one process from one config. Prints the
 * start-up check first and exits non-zero when it finds an error (a port taken, a
 * configured interface missing); --check stops after the check.
 */
import type { Command } from 'commander';
import { collect, commandContext, CliError, intArg } from '../context.js';
import { DhcpModeSchema, formatDiagnostic, loadConfig, type ConfigOverrides, type DhcpMode } from '../../config/index.js';
import { startupCheck } from '../../serve/startup-check.js';
import { startDaemon } from '../../serve/daemon.js';
import { KEY_SPECS } from '../../config/keys.js';
import { GUARD_MODES, type GuardMode } from '../../dhcp/full/guard.js';
import path from 'node:path';

interface ServeFlags {
  dryRun?: boolean;
  check?: boolean;
  interface?: string[];
  serverIp?: string;
  dhcpMode?: string;
  dhcpPort?: number;
  dhcpRange?: string;
  leaseFile?: string;
  dhcpGuard?: string;
  pxePort?: number;
  tftpPort?: number;
  httpPort?: number;
  dhcp: boolean;
  http: boolean;
  tftp: boolean;
  drainSeconds: number;
}

/** Flags → config overrides (flags win over ltsp.conf, which wins over defaults). */
export function serveOverrides(f: ServeFlags): ConfigOverrides {
  const o: ConfigOverrides = { dhcp: {}, tftp: {}, http: {} };
  if (f.interface?.length) o.interfaces = f.interface;
  if (f.serverIp) o.serverIp = f.serverIp;
  if (f.dhcpMode !== undefined) {
    const m = DhcpModeSchema.safeParse(f.dhcpMode);
    if (!m.success) throw new CliError(`--dhcp-mode: expected proxy, full or off, got '${f.dhcpMode}'`);
    o.dhcp!.mode = m.data as DhcpMode;
  }
  if (!f.dhcp) o.dhcp!.mode = 'off';
  if (f.dhcpPort !== undefined) o.dhcp!.port = f.dhcpPort;
  if (f.pxePort !== undefined) o.dhcp!.pxePort = f.pxePort;
  if (f.dhcpRange !== undefined) {
    const r = KEY_SPECS.find((k) => k.key === 'DHCP_RANGE')!.parse(f.dhcpRange);
    if (!r.ok) throw new CliError(`--dhcp-range: ${r.message}`);
    o.dhcp!.range = r.value as NonNullable<ConfigOverrides['dhcp']>['range'];
  }
  if (f.leaseFile !== undefined) o.dhcp!.leaseFile = path.resolve(f.leaseFile);
  if (f.tftpPort !== undefined) o.tftp!.port = f.tftpPort;
  if (!f.tftp) o.tftp!.enabled = false;
  if (f.httpPort !== undefined) o.http!.port = f.httpPort;
  if (!f.http) o.http!.enabled = false;
  return o;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run proxyDHCP, TFTP and HTTP in one daemon')
    .option('--dry-run', 'start-up check, then listen and log per client what would be answered; send nothing')
    .option('--check', 'print the start-up check and exit (1 on errors)')
    .option('--interface <if>', 'serve this interface (repeatable; default: every IPv4 interface but loopback)', collect)
    .option('--server-ip <addr>', 'address handed to clients (default: the served interface address)')
    .option('--dhcp-mode <mode>', 'proxy | full | off (default proxy)')
    .option('--dhcp-port <port>', 'DHCP port (default 67)', intArg('--dhcp-port'))
    .option('--dhcp-range <START,END[,LEASE]>', 'full DHCP mode: address pool and lease (3600, 45m, 12h; default 12h)')
    .option('--lease-file <file>', 'full DHCP mode: lease journal (default /var/lib/ltsp-ts/leases.journal)')
    .option('--dhcp-guard <guard>', `full DHCP mode: multi-NIC guard, ${GUARD_MODES.filter((g) => g !== 'none').join(' | ')} (default auto)`)
    .option('--pxe-port <port>', 'PXE boot server port (default 4011)', intArg('--pxe-port'))
    .option('--tftp-port <port>', 'TFTP port (default 69)', intArg('--tftp-port'))
    .option('--http-port <port>', 'HTTP port (default 8080)', intArg('--http-port'))
    .option('--no-dhcp', 'do not run DHCP')
    .option('--no-tftp', 'do not run TFTP')
    .option('--no-http', 'do not run HTTP')
    .option('--drain-seconds <s>', 'on SIGTERM, let transfers finish for this long', intArg('--drain-seconds', 0, 3600), 10)
    .action(async (flags: ServeFlags, cmd: Command) => {
      const overrides = serveOverrides(flags);
      const { loaded, log, globals } = await commandContext(cmd, overrides);
      const c = loaded.config;
      if (c.dhcp.mode === 'off' && !c.tftp.enabled && !c.http.enabled) throw new CliError('serve: every service is off (--no-dhcp --no-tftp --no-http)');

      const report = await startupCheck(loaded, { dryRun: flags.dryRun });
      for (const l of report.lines) log.info(`check: ${l}`);
      for (const w of report.warnings) log.warn(`check: ${w}`);
      for (const e of report.errors) log.error(`check: ${e}`);
      if (report.errors.length > 0) throw new CliError(`serve: start-up check failed:\n  ${report.errors.join('\n  ')}`, 2);
      if (flags.check) return;

      const guard = flags.dhcpGuard ?? 'auto';
      if (!GUARD_MODES.includes(guard as GuardMode) || guard === 'none') throw new CliError(`--dhcp-guard: expected ${GUARD_MODES.filter((g) => g !== 'none').join(', ')}, got '${guard}'`);
      const daemon = await startDaemon({
        loaded,
        log,
        dryRun: flags.dryRun,
        dhcpGuard: guard as GuardMode,
        reloadConfig: async () => {
          const next = await loadConfig({ configFile: c.configFile, explicit: globals.config !== undefined, overrides: { ...overrides, baseDir: c.baseDir, tftpDir: c.tftpDir } });
          for (const w of next.warnings) log.warn(formatDiagnostic(w));
          if (next.errors.length > 0) throw new Error(next.errors.map((e) => formatDiagnostic(e)).join('; '));
          return next;
        },
      });
      log.info({ ports: daemon.ports }, `serving${flags.dryRun ? ' (dry run: nothing is sent)' : ''}`);

      await new Promise<void>((resolve) => {
        const onHup = () => {
          daemon.reload().catch((err: Error) => log.error(`reload failed, keeping the old configuration: ${err.message}`));
        };
        const stop = (sig: string) => {
          log.info(`${sig}: stopping; letting transfers finish for up to ${flags.drainSeconds} s`);
          process.off('SIGHUP', onHup);
          daemon.stop(flags.drainSeconds * 1000).then(() => resolve());
        };
        process.on('SIGHUP', onHup);
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      log.info('stopped');
    });
}
