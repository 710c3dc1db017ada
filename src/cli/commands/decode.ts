/**
 * `ltsp-ts decode FILE.pcap [--json]`: every DHCP, TFTP and HTTP packet of a capture with its
 * decoded fields and, for DHCP, the classify() facts the decision core works from. The text
 * form is the golden-file format of pcap-fixtures/; --json prints one JSON object per packet.
 *
 * Which packets are what:
 *   DHCP = UDP with port 67, 68 or 4011 on either side (OVMF sends from 4011 to 4011);
 *   TFTP = UDP to port 69, and every later datagram between the requesting client port and
 *          the server address (the transfer runs on the server's ephemeral port, RFC 1350 §4);
 *   HTTP = TCP segments whose data starts with a request or status line.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { classify, decodeDhcp, DhcpDecodeError, hex as hexOf, messageTypeName, typedOptions, type DhcpFacts, type DhcpPacket, type TypedOptions } from '../../../protocols/dhcp/index.js';
import { PcapError, readCapture, secondsBetween, type IpPacket, type Timestamp } from '../../../protocols/pcap/index.js';
import { decodeTftp, ERROR_CODE_NAMES, TftpDecodeError, type TftpPacket } from '../../../protocols/tftp/index.js';
import { CliError } from '../context.js';

export const DHCP_PORTS: readonly number[] = [67, 68, 4011];
const TFTP_PORT = 69;

/** Typed accessor name per option code (the keys of typedOptions()). */
const OPTION_KEYS: Readonly<Record<number, keyof TypedOptions | 'renewalTime' | 'rebindingTime'>> = {
  1: 'subnetMask',
  3: 'routers',
  6: 'dnsServers',
  12: 'hostname',
  15: 'domainName',
  17: 'rootPath',
  28: 'broadcast',
  43: 'pxe',
  50: 'requestedIp',
  51: 'leaseTime',
  52: 'overload',
  53: 'messageType',
  54: 'serverId',
  55: 'parameterRequestList',
  57: 'maxMessageSize',
  60: 'vendorClass',
  61: 'clientId',
  66: 'tftpServer',
  67: 'bootfile',
  77: 'userClass',
  82: 'relayAgent',
  93: 'clientArch',
  94: 'clientNdi',
  97: 'guid',
  175: 'ipxe',
  // Not read by the server, but routers send them: typed here for readable golden files.
  58: 'renewalTime',
  59: 'rebindingTime',
};

/** RFC 2132 §9.11/9.12 T1/T2 (seconds), which typedOptions() does not cover. */
function extraTypedOptions(p: DhcpPacket): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of p.options) {
    if ((o.code === 58 || o.code === 59) && o.data.length === 4) {
      out[o.code === 58 ? 'renewalTime' : 'rebindingTime'] = Buffer.from(o.data).readUInt32BE(0);
    }
  }
  return out;
}

export interface DhcpOptionView {
  code: number;
  /** Typed accessor name, or "unknown" for options kept raw. */
  name: string;
  /** Typed value (absent for unknown options and for values that failed to parse). */
  value?: unknown;
  hex: string;
  /** Known option whose value did not parse. */
  malformed?: true;
}

export interface DhcpView {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: string;
  secs: number;
  flags: string;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  chaddr: string;
  sname: string;
  file: string;
  options: DhcpOptionView[];
}

export interface HttpView {
  kind: 'request' | 'response';
  /** Request or status line. */
  line: string;
  headers: [string, string][];
}

/** One decoded packet: where it went, and what it says. */
export interface DecodedPacket {
  frame: number;
  /** ISO 8601 with nanoseconds. */
  time: string;
  /** Seconds since frame 1 (tshark's default time column). */
  rel: number;
  transport: 'udp' | 'tcp';
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  srcMac?: string;
  dstMac?: string;
  /** Payload length on the wire, and how much of it the capture kept. */
  length: number;
  captured: number;
  kind: 'dhcp' | 'tftp' | 'http';
  dhcp?: DhcpView;
  facts?: DhcpFacts;
  tftp?: TftpPacket;
  /** Decode error of the DHCP/TFTP payload (the packet is shown anyway). */
  error?: string;
  http?: HttpView;
}

export interface DecodedCapture {
  format: 'pcap' | 'pcapng';
  frames: number;
  counts: { dhcp: number; tftp: number; http: number; other: number };
  packets: DecodedPacket[];
}


function isoTime(ts: Timestamp): string {
  const d = new Date(ts.sec * 1000);
  if (Number.isNaN(d.getTime())) return `${ts.sec}.${String(ts.nsec).padStart(9, '0')}`;
  return d.toISOString().replace(/\.\d{3}Z$/, `.${String(ts.nsec).padStart(9, '0')}Z`);
}

function dhcpView(p: DhcpPacket): DhcpView {
  const typed: Record<string, unknown> = { ...typedOptions(p), ...extraTypedOptions(p) };
  const options = p.options.map((o): DhcpOptionView => {
    const name = OPTION_KEYS[o.code];
    const hex = hexOf(o.data);
    if (name === undefined) return { code: o.code, name: 'unknown', hex };
    const value = typed[name];
    return value === undefined ? { code: o.code, name, hex, malformed: true } : { code: o.code, name, value, hex };
  });
  return {
    op: p.op,
    htype: p.htype,
    hlen: p.hlen,
    hops: p.hops,
    xid: `0x${p.xid.toString(16).padStart(8, '0')}`,
    secs: p.secs,
    flags: `0x${p.flags.toString(16).padStart(4, '0')}`,
    ciaddr: p.ciaddr,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    giaddr: p.giaddr,
    chaddr: hexOf(p.chaddr),
    sname: p.sname,
    file: p.file,
    options,
  };
}

const HTTP_REQUEST = /^[A-Z]{3,10} \S+ HTTP\/\d\.\d\r?$/;
const HTTP_STATUS = /^HTTP\/\d\.\d \d{3}/;

function httpView(payload: Buffer): HttpView | undefined {
  const text = payload.toString('latin1');
  const lines = text.split('\n');
  const first = lines[0]!.replace(/\r$/, '');
  const kind = HTTP_REQUEST.test(lines[0]!) ? 'request' : HTTP_STATUS.test(first) ? 'response' : undefined;
  if (!kind) return undefined;
  const headers: [string, string][] = [];
  // Complete header lines only: the last line may have been cut by the snap length.
  for (const l of lines.slice(1, -1)) {
    const line = l.replace(/\r$/, '');
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return { kind, line: first, headers };
}

/** Decodes the DHCP, TFTP and HTTP packets of a capture. Throws PcapError on a broken file. */
export function decodeCapture(buf: Buffer): DecodedCapture {
  const cap = readCapture(buf);
  const t0 = cap.firstTs ?? { sec: 0, nsec: 0 };
  // TFTP transfers: "clientIp:clientPort serverIp" of every RRQ/WRQ seen so far.
  const transfers = new Set<string>();
  const packets: DecodedPacket[] = [];
  const counts = { dhcp: 0, tftp: 0, http: 0, other: cap.frameCount - cap.packets.length };

  for (const ip of cap.packets) {
    const base = {
      frame: ip.frame,
      time: isoTime(ip.ts),
      rel: Math.round(secondsBetween(t0, ip.ts) * 1e9) / 1e9,
      transport: ip.protocol,
      src: ip.src,
      srcPort: ip.srcPort,
      dst: ip.dst,
      dstPort: ip.dstPort,
      ...(ip.srcMac !== undefined ? { srcMac: ip.srcMac } : {}),
      ...(ip.dstMac !== undefined ? { dstMac: ip.dstMac } : {}),
      length: ip.payloadLength,
      captured: ip.payload.length,
    };
    const decoded = ip.protocol === 'udp' ? decodeUdp(ip, base, transfers) : decodeTcp(ip, base);
    if (decoded) {
      packets.push(decoded);
      counts[decoded.kind]++;
    } else counts.other++;
  }
  return { format: cap.format, frames: cap.frameCount, counts, packets };
}

type Base = Omit<DecodedPacket, 'kind'>;

function decodeUdp(ip: IpPacket, base: Base, transfers: Set<string>): DecodedPacket | undefined {
  if (DHCP_PORTS.includes(ip.srcPort) || DHCP_PORTS.includes(ip.dstPort)) {
    try {
      const pkt = decodeDhcp(ip.payload);
      return { ...base, kind: 'dhcp', dhcp: dhcpView(pkt), facts: classify(pkt, { srcPort: ip.srcPort, dstPort: ip.dstPort }) };
    } catch (e) {
      if (!(e instanceof DhcpDecodeError)) throw e;
      return { ...base, kind: 'dhcp', error: `${e.kind}: ${e.message}` };
    }
  }
  const fromClient = transfers.has(`${ip.src}:${ip.srcPort} ${ip.dst}`);
  const toClient = transfers.has(`${ip.dst}:${ip.dstPort} ${ip.src}`);
  if (ip.dstPort !== TFTP_PORT && !fromClient && !toClient) return undefined;
  try {
    const tftp = decodeTftp(ip.payload);
    if (ip.dstPort === TFTP_PORT && (tftp.opcode === 'RRQ' || tftp.opcode === 'WRQ')) transfers.add(`${ip.src}:${ip.srcPort} ${ip.dst}`);
    return { ...base, kind: 'tftp', tftp };
  } catch (e) {
    if (!(e instanceof TftpDecodeError)) throw e;
    return { ...base, kind: 'tftp', error: `${e.kind}: ${e.message}` };
  }
}

function decodeTcp(ip: IpPacket, base: Base): DecodedPacket | undefined {
  const http = ip.payload.length > 0 ? httpView(ip.payload) : undefined;
  return http ? { ...base, kind: 'http', http } : undefined;
}

// ------------------------------------------------------------------------ text format

/** JSON with byte arrays as hex strings (typed option values carry raw sub-options). */
export function toJson(v: unknown): string {
  // Look at the holder's own value: JSON.stringify has already applied Buffer#toJSON to `x`.
  return JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const raw = k === '' ? x : this[k];
    return raw instanceof Uint8Array ? hexOf(raw) : x;
  });
}

function describeTftp(t: TftpPacket, p: DecodedPacket): string {
  const opts = (o: { name: string; value: string }[]) => o.map((x) => `${x.name}=${x.value}`).join(' ');
  switch (t.opcode) {
    case 'RRQ':
    case 'WRQ':
      return `${t.opcode} file=${JSON.stringify(t.filename)} mode=${t.mode}${t.options.length ? ` ${opts(t.options)}` : ''}`;
    case 'DATA':
      return `DATA block=${t.block} bytes=${p.length - 4}${p.captured < p.length ? ` (captured ${p.captured - 4})` : ''}`;
    case 'ACK':
      return `ACK block=${t.block}`;
    case 'ERROR':
      return `ERROR code=${t.code} (${ERROR_CODE_NAMES[t.code] ?? 'unknown'}) message=${JSON.stringify(t.message)}`;
    case 'OACK':
      return `OACK ${opts(t.options)}`;
  }
}

/** The golden-file block of one packet. */
export function formatPacket(p: DecodedPacket): string {
  const out: string[] = [];
  const macs = p.srcMac ? ` eth ${p.srcMac} > ${p.dstMac ?? '?'}` : '';
  out.push(`frame ${p.frame} +${p.rel.toFixed(6)}s ${p.time}`);
  out.push(`  ${p.transport} ${p.src}:${p.srcPort} > ${p.dst}:${p.dstPort} len=${p.length}${p.captured < p.length ? ` captured=${p.captured}` : ''}${macs}`);
  if (p.error) out.push(`  ${p.kind} decode error: ${p.error}`);
  if (p.dhcp) {
    const d = p.dhcp;
    const type = p.facts?.messageTypeName ?? messageTypeName(undefined);
    out.push(`  dhcp ${type} op=${d.op} htype=${d.htype} hlen=${d.hlen} hops=${d.hops} xid=${d.xid} secs=${d.secs} flags=${d.flags}`);
    out.push(`    ciaddr=${d.ciaddr} yiaddr=${d.yiaddr} siaddr=${d.siaddr} giaddr=${d.giaddr}`);
    out.push(`    chaddr=${d.chaddr} sname=${JSON.stringify(d.sname)} file=${JSON.stringify(d.file)}`);
    for (const o of d.options) {
      const value = o.value !== undefined ? ` = ${toJson(o.value)}` : o.malformed ? ' (malformed)' : '';
      out.push(`    option ${o.code} ${o.name}${value}`);
      out.push(`      hex ${o.hex || '(empty)'}`);
    }
    if (p.facts) {
      out.push('  facts');
      for (const [k, v] of Object.entries(p.facts)) out.push(`    ${k}: ${toJson(v)}`);
    }
  }
  if (p.tftp) out.push(`  tftp ${describeTftp(p.tftp, p)}`);
  if (p.http) {
    out.push(`  http ${p.http.kind} ${JSON.stringify(p.http.line)}`);
    for (const [k, v] of p.http.headers) out.push(`    ${k}: ${v}`);
  }
  return out.join('\n');
}

/** The whole golden file: a header line, one block per packet, blank lines between. */
export function formatCapture(d: DecodedCapture): string {
  const c = d.counts;
  const head = `# ${d.format}, ${d.frames} frames: ${c.dhcp} DHCP, ${c.tftp} TFTP, ${c.http} HTTP, ${c.other} other (not shown)`;
  return [head, ...d.packets.map(formatPacket)].join('\n\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('decode')
    .description('decode DHCP/TFTP packets of a pcap/pcapng capture with their facts')
    .argument('<file>', 'capture file (pcap or pcapng)')
    .option('--json', 'one JSON object per packet (JSON lines)')
    .action(async (file: string, opts: { json?: boolean }) => {
      let buf: Buffer;
      try {
        buf = await readFile(file);
      } catch (e) {
        throw new CliError(`decode: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      let decoded: DecodedCapture;
      try {
        decoded = decodeCapture(buf);
      } catch (e) {
        if (e instanceof PcapError) throw new CliError(`decode: ${file}: ${e.message}`);
        throw e;
      }
      // `decode x.pcap | head` closes the pipe early: stop quietly instead of an EPIPE trace.
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(0);
        throw e;
      });
      if (opts.json) {
        for (const p of decoded.packets) process.stdout.write(toJson(p) + '\n');
      } else process.stdout.write(formatCapture(decoded));
    });
}
