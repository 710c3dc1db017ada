/**
 * Shared helpers for the tftp-*.test.ts suites: a server with captured logs/events/metrics,
 * a raw UDP client for protocol-level checks, and real-peer runners.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigSchema, type Config } from '../src/config/schema.js';
import { MetricsRegistry } from '../src/metrics.js';
import type { BootEvent } from '../src/events.js';
import { startTftpServer, type TftpServer } from '../src/tftp/server.js';
import { decodeTftp, encodeTftp, type TftpOption, type TftpPacket } from '../protocols/tftp/index.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface TestServer {
  server: TftpServer;
  port: number;
  lines: LogLine[];
  events: BootEvent[];
  metrics: MetricsRegistry;
}

export async function startTestServer(root: string, tftp: Partial<Config['tftp']> = {}, mtu?: number): Promise<TestServer> {
  const lines: LogLine[] = [];
  const events: BootEvent[] = [];
  const metrics = new MetricsRegistry();
  const log = pino({ level: 'debug', base: undefined }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const config = ConfigSchema.parse({ configFile: '/nonexistent', tftp: { address: '127.0.0.1', port: 0, ...tftp } }).tftp;
  const server = await startTftpServer({ root, config, log, events: (e) => events.push(e), metrics, ...(mtu ? { mtu } : {}) });
  return { server, port: server.port, lines, events, metrics };
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const sha256File = (p: string) => sha256(readFileSync(p));

/** Runs a peer client with a hard timeout; resolves with its exit code and output. */
export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Datagram {
  packet: TftpPacket | null;
  raw: Buffer;
  rinfo: RemoteInfo;
}

/** A bare UDP client: send bytes, await datagrams (each wait bounded). */
export class RawClient {
  private readonly queue: Datagram[] = [];
  private waiter: (() => void) | null = null;
  private constructor(readonly sock: Socket) {
    sock.on('message', (raw, rinfo) => {
      let packet: TftpPacket | null = null;
      try {
        packet = decodeTftp(raw);
      } catch {
        packet = null;
      }
      this.queue.push({ packet, raw, rinfo });
      this.waiter?.();
    });
  }

  static async open(): Promise<RawClient> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const c = new RawClient(sock);
    void c.port;
    return c;
  }

  /** Local port (kept after close, for matching log lines). */
  get port(): number {
    this.localPort ??= this.sock.address().port;
    return this.localPort;
  }
  private localPort: number | undefined;

  private pending = 0;
  private drained: (() => void) | null = null;

  send(bytes: Uint8Array, port: number, address = '127.0.0.1'): void {
    this.pending++;
    this.sock.send(bytes, port, address, () => {
      if (--this.pending === 0) this.drained?.();
    });
  }

  request(port: number, filename: string, options: TftpOption[] = [], mode = 'octet', opcode: 'RRQ' | 'WRQ' = 'RRQ'): void {
    this.send(encodeTftp({ opcode, filename, mode, options }), port);
  }

  /** Next datagram, or null after timeoutMs. */
  async next(timeoutMs = 3000): Promise<Datagram | null> {
    if (this.queue.length === 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, timeoutMs);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
    return this.queue.shift() ?? null;
  }

  /** Every datagram arriving within ms. */
  async collect(ms: number): Promise<Datagram[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.queue.splice(0);
  }

  /** Closes after queued sends have left (a send still resolving its address would be dropped). */
  close(): void {
    const done = () => this.sock.close();
    if (this.pending === 0) done();
    else this.drained = done;
  }
}

export interface RawGetResult {
  data: Buffer;
  oack?: TftpOption[];
  error?: { code: number; message: string };
  /** The first packet's source port (the transfer's TID). */
  tid?: number;
}

/**
 * A minimal windowed TFTP client (RFC 7440 receiver): ACKs each window end and the last
 * block. Used where a protocol detail needs checking; interop uses real clients.
 */
export async function rawGet(port: number, filename: string, options: TftpOption[] = [], client?: RawClient): Promise<RawGetResult> {
  const c = client ?? (await RawClient.open());
  try {
    c.request(port, filename, options);
    let blksize = 512;
    let windowsize = 1;
    let expected = 1;
    const chunks: Buffer[] = [];
    let oack: TftpOption[] | undefined;
    let tid: number | undefined;
    for (;;) {
      const d = await c.next(5000);
      if (!d) throw new Error(`rawGet ${filename}: no packet after block ${expected - 1}`);
      tid ??= d.rinfo.port;
      const p = d.packet;
      if (!p) continue;
      if (p.opcode === 'ERROR') return { data: Buffer.concat(chunks), error: { code: p.code, message: p.message }, tid, ...(oack ? { oack } : {}) };
      if (p.opcode === 'OACK') {
        oack = p.options;
        for (const o of p.options) {
          if (o.name.toLowerCase() === 'blksize') blksize = Number(o.value);
          if (o.name.toLowerCase() === 'windowsize') windowsize = Number(o.value);
        }
        c.send(encodeTftp({ opcode: 'ACK', block: 0 }), d.rinfo.port);
        continue;
      }
      if (p.opcode !== 'DATA') continue;
      if (p.block !== (expected & 0xffff)) continue; // out of order: wait for the timeout resend
      chunks.push(Buffer.from(p.data));
      const last = p.data.length < blksize;
      if (last || expected % windowsize === 0) c.send(encodeTftp({ opcode: 'ACK', block: p.block }), d.rinfo.port);
      expected++;
      if (last) return { data: Buffer.concat(chunks), tid, ...(oack ? { oack } : {}) };
    }
  } finally {
    if (!client) c.close();
  }
}

export const opt = (name: string, value: string | number): TftpOption => ({ name, value: String(value) });

/** Waits until cond() is true, polling; throws after timeoutMs. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
