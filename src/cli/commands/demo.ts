import type { Command } from 'commander';
import { createLogger } from '../../log.js';
import { runDemo } from '../../serve/demo.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('no root, no config: serve a throw-away tree on loopback and walk one simulated UEFI client through DHCP → TFTP → HTTP')
    .option('--keep', 'keep serving after the walk-through (Ctrl-C stops)')
    .option('--verbose', 'show the daemon log')
    .action(async (flags: { keep?: boolean; verbose?: boolean; logLevel?: string }) => {
      const log = createLogger(flags.verbose ? 'info' : ((flags.logLevel as 'warn') ?? 'warn'));
      await runDemo({ log, keep: flags.keep, out: (l) => process.stdout.write(l + '\n') });
    });
}
