/**
 * `ltsp-ts serve`: the daemon. FIRST VERSION (TFTP issue): starts only the TFTP service;
 * proxyDHCP and HTTP are wired in by the serve issue. The flags are already accepted.
 */
import type { Command } from 'commander';
import { commandContext, intArg } from '../context.js';
import type { ConfigOverrides } from '../../config/index.js';
import { startTftpServer } from '../../tftp/server.js';

interface ServeFlags {
  tftpPort?: number;
  dhcp: boolean;
  http: boolean;
  tftp: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run proxyDHCP, TFTP and HTTP in one daemon')
    .option('--tftp-port <port>', 'TFTP port (default 69)', intArg('--tftp-port'))
    .option('--no-dhcp', 'do not run proxyDHCP')
    .option('--no-http', 'do not run the HTTP service')
    .option('--no-tftp', 'do not run TFTP')
    .option('--dry-run', 'DHCP: decide and log replies, send nothing')
    .action(async (flags: ServeFlags, cmd: Command) => {
      const tftp: NonNullable<ConfigOverrides['tftp']> = {};
      if (flags.tftpPort !== undefined) tftp.port = flags.tftpPort;
      if (!flags.tftp) tftp.enabled = false;
      const { loaded, log } = await commandContext(cmd, { tftp });
      const config = loaded.config;
      if (flags.dhcp && config.dhcp.mode !== 'off') log.warn('serve: proxyDHCP is not part of this build yet; use --no-dhcp');
      if (flags.http && config.http.enabled) log.warn('serve: HTTP is not part of this build yet; use --no-http');

      const closers: ((drainMs: number) => Promise<void>)[] = [];
      if (config.tftp.enabled) {
        const server = await startTftpServer({ root: config.tftpDir, config: config.tftp, log });
        closers.push((ms) => server.close(ms));
      }
      if (closers.length === 0) {
        log.warn('serve: no service enabled; exiting');
        return;
      }
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          log.info(`serve: ${sig}, stopping`);
          Promise.all(closers.map((c) => c(2000))).then(() => resolve());
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
