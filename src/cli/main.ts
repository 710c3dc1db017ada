/**
 * ltsp-ts command line. Global options use LTSP's names; each command lives in
 * src/cli/commands/<name>.ts and registers itself on the program.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError } from './context.js';
import { packageFile } from '../paths.js';
import { register as decode } from './commands/decode.js';
import { register as config } from './commands/config.js';
import { register as replay } from './commands/replay.js';
import { register as serve } from './commands/serve.js';
import { register as image } from './commands/image.js';
import { register as kernel } from './commands/kernel.js';
import { register as ipxe } from './commands/ipxe.js';
import { register as nfs } from './commands/nfs.js';
import { register as info } from './commands/info.js';
import { register as demo } from './commands/demo.js';
import { register as installService } from './commands/install-service.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('ltsp-ts')
    .description('Netboot server for LTSP: proxyDHCP, TFTP and HTTP in one daemon, plus image/kernel/ipxe/nfs')
    .version(version(), '-V, --version')
    .option('--config <file>', 'ltsp.conf to read', undefined)
    .option('-b, --base-dir <dir>', 'BASE_DIR (default /srv/ltsp)')
    .option('-t, --tftp-dir <dir>', 'TFTP_DIR (default /srv/tftp)')
    .option('--log-level <level>', 'trace|debug|info|warn|error|silent')
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  for (const reg of [serve, decode, replay, config, image, kernel, ipxe, nfs, info, demo, installService]) reg(program);
  // LTSP puts global options before the applet (`ltsp -b DIR image ...`, where `image -b` is
  // --backup). Users also write them after the command (`serve --tftp-dir DIR`), so every
  // command accepts the long forms too; optsWithGlobals() lets the command's value win.
  for (const cmd of program.commands) {
    const has = (flag: string) => cmd.options.some((o) => o.long === flag);
    if (!has('--config')) cmd.option('--config <file>', 'ltsp.conf to read (default /etc/ltsp/ltsp.conf)');
    if (!has('--base-dir')) cmd.option('--base-dir <dir>', 'BASE_DIR (default /srv/ltsp)');
    if (!has('--tftp-dir')) cmd.option('--tftp-dir <dir>', 'TFTP_DIR (default /srv/tftp)');
    if (!has('--log-level')) cmd.option('--log-level <level>', 'trace|debug|info|warn|error|silent');
    cmd.exitOverride();
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`ltsp-ts: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    throw err;
  }
}
