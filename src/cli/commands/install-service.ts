/**
 * `ltsp-ts install-service`: write systemd/ltsp-ts.service to /etc/systemd/system with
 * ExecStart pointing at this installation, then `systemctl daemon-reload` (and
 * `enable --now` with --enable). --print writes the unit to stdout instead.
 */
import type { Command } from 'commander';
import { readFile, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { CliError } from '../context.js';
import { packageFile } from '../../paths.js';

const UNIT = packageFile('systemd', 'ltsp-ts.service');
const BIN = packageFile('bin', 'ltsp-ts.js');

/** The unit with ExecStart running this checkout's CLI with this node binary. */
export async function renderUnit(opts: { node?: string; bin?: string; config?: string; lanInterface?: string } = {}): Promise<string> {
  let text = await readFile(UNIT, 'utf8');
  if (opts.lanInterface !== undefined) {
    if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(opts.lanInterface)) throw new CliError(`install-service: '${opts.lanInterface}' is not an interface name`);
    // Full DHCP mode's guard (src/dhcp/full/guard.ts): the service can only use the LAN card
    // and loopback, so it can never answer on the school's side of a dual-NIC server.
    text = text.replace(/^(RestrictAddressFamilies=.*)$/m, `$1\n# Full DHCP mode: only the LAN card (and loopback); ltsp-ts checks this at start.\nRestrictNetworkInterfaces=${opts.lanInterface} lo`);
  }
  const exec = `${opts.node ?? process.execPath} ${opts.bin ?? BIN} serve --config ${opts.config ?? '/etc/ltsp/ltsp.conf'}`;
  if (/\s/.test(opts.bin ?? BIN)) throw new CliError(`install-service: the install path has white space (${opts.bin ?? BIN}); move it`);
  return text.replace(/^ExecStart=.*$/m, `ExecStart=${exec}`);
}

export function register(program: Command): void {
  program
    .command('install-service')
    .description('install the systemd unit (runs as a dynamic unprivileged user with CAP_NET_BIND_SERVICE only)')
    .option('--print', 'print the unit instead of installing it')
    .option('--unit-dir <dir>', 'where to install', '/etc/systemd/system')
    .option('--enable', 'also systemctl enable --now ltsp-ts')
    .option('--lan-interface <if>', 'full DHCP mode: restrict the service to this interface and lo (RestrictNetworkInterfaces=)')
    .action(async (flags: { print?: boolean; unitDir: string; enable?: boolean; config?: string; lanInterface?: string }) => {
      const unit = await renderUnit({ config: flags.config, lanInterface: flags.lanInterface });
      if (flags.print) {
        process.stdout.write(unit);
        return;
      }
      if (BIN.startsWith('/root/') || BIN.startsWith('/home/')) {
        process.stderr.write(`warning: ${BIN} is under /root or /home, which the unit hides (ProtectHome=yes); install ltsp-ts under /opt or /usr/local\n`);
      }
      const target = path.join(flags.unitDir, 'ltsp-ts.service');
      await writeFile(`${target}.tmp`, unit, { mode: 0o644 });
      await rename(`${target}.tmp`, target);
      process.stdout.write(`wrote ${target}\n`);
      const systemctl = async (...args: string[]) => {
        const r = await execa('systemctl', args, { reject: false });
        if (r.exitCode !== 0) process.stderr.write(`systemctl ${args.join(' ')}: ${r.stderr || r.stdout || `exit ${r.exitCode}`}\n`);
      };
      await systemctl('daemon-reload');
      if (flags.enable) await systemctl('enable', '--now', 'ltsp-ts');
      else process.stdout.write('start it with: systemctl enable --now ltsp-ts\n');
    });
}
