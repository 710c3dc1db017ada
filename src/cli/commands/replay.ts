/**
 * `ltsp-ts replay FILE.pcap [--config F] [--server-ip A] [--json]`: every client DHCP packet
 * of a capture through the proxyDHCP decision core, with the reply we would send.
 * --json prints one line per client packet: frame, port, xid, mac, facts, action, reason,
 * reply, replyHex (see src/dhcp/replay.ts).
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { PcapError } from '../../../protocols/pcap/index.js';
import { replayCapture, type ReplayLine } from '../../dhcp/replay.js';
import { replayCaptureFull } from '../../dhcp/full/replay.js';
import { messageTypeName } from '../../../protocols/dhcp/index.js';
import { CliError, commandContext } from '../context.js';

function textLine(l: ReplayLine): string {
  const who = l.facts ? `${l.mac} ${l.xid} ${l.facts.messageTypeName} ${l.facts.archName ?? '-'}${l.facts.ipxe ? ' iPXE' : ''}` : 'undecodable';
  const what = l.reply ? `${messageTypeName(parseInt(l.reply.options['53'] ?? '', 16))} file="${l.reply.file}" siaddr=${l.reply.siaddr} (${l.reason})` : `ignore: ${l.reason}`;
  return `frame ${l.frame} :${l.port} ${who} → ${what}`;
}

export function register(program: Command): void {
  program
    .command('replay')
    .description('run the client DHCP packets of a capture through the proxyDHCP decision core')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--server-ip <address>', 'server address for the replies (default: the proxy server seen in the capture)')
    .option('--json', 'one JSON object per client packet (JSON lines)')
    .option('--dhcp-mode <mode>', 'proxy (default) or full: the full DHCP state machine over an empty lease table')
    .action(async (file: string, opts: { serverIp?: string; json?: boolean; dhcpMode?: string }, cmd: Command) => {
      if (opts.dhcpMode !== undefined && opts.dhcpMode !== 'proxy' && opts.dhcpMode !== 'full') throw new CliError(`replay: --dhcp-mode: expected proxy or full, got '${opts.dhcpMode}'`);
      if (opts.serverIp !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.serverIp)) throw new CliError(`replay: --server-ip: not an IPv4 address: '${opts.serverIp}'`);
      const { loaded } = await commandContext(cmd);
      let buf: Buffer;
      try {
        buf = await readFile(file);
      } catch (e) {
        throw new CliError(`replay: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      let result;
      try {
        result = opts.dhcpMode === 'full' ? replayCaptureFull(buf, loaded, opts.serverIp) : replayCapture(buf, loaded, opts.serverIp);
      } catch (e) {
        if (e instanceof PcapError) throw new CliError(`replay: ${file}: ${e.message}`);
        throw e;
      }
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
        throw e;
      });
      if (opts.json) for (const l of result.lines) process.stdout.write(JSON.stringify(l) + '\n');
      else {
        process.stdout.write(`# server ${result.server}, ${result.lines.length} client DHCP packets\n`);
        for (const l of result.lines) process.stdout.write(textLine(l) + '\n');
      }
    });
}
