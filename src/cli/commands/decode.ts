import type { Command } from 'commander';
import { CliError } from '../context.js';

export function register(program: Command): void {
  program
    .command('decode')
    .description('decode DHCP/TFTP packets of a pcap/pcapng capture with their facts')
    .action(() => {
      throw new CliError('decode: not implemented yet');
    });
}
