/**
 * A simulated netboot client for the demo, the storm benchmark and end-to-end tests: it
 * sends real DHCP packets (captured from firmware, or built by protocols/dhcp), fetches
 * files over TFTP with RFC 2347/2348/7440 options, and over HTTP. Bounded by timeouts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { decodeDhcp, DhcpDecodeError, type DhcpPacket } from '../../protocols/dhcp/index.js';
import { decodeTftp, encodeTftp, TftpDecodeError } from '../../protocols/tftp/index.js';

export function bindUdp(port = 0, address = '0.0.0.0'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp4', reuseAddr: false });
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      s.setBroadcast(true);
      resolve(s);
    });
  });
}

/** Send a DHCP packet and wait for the first decodable reply with the same xid. */
export function dhcpExchange(sock: Socket, packet: Uint8Array, to: { address: string; port: number }, xid: number, timeoutMs = 3000): Promise<DhcpPacket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no DHCP reply from ${to.address}:${to.port} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (msg: Buffer) => {
      try {
        const p = decodeDhcp(msg);
        if (p.op === 2 && p.xid === xid) done(undefined, p);
      } catch (e) {
        if (!(e instanceof DhcpDecodeError)) throw e;
      }
    };
    const done = (err?: Error, p?: DhcpPacket) => {
      clearTimeout(timer);
      sock.off('message', onMsg);
      if (err) reject(err);
      else resolve(p!);
    };
    sock.on('message', onMsg);
    sock.send(packet, to.port, to.address);
  });
}

export interface TftpFetchResult {
  bytes: number;
  data: Buffer;
  blksize: number;
  windowsize: number;
  ms: number;
}

/**
 * Download a file over TFTP (octet) with blksize/windowsize options; ACKs each window's
 * last block (RFC 7440). Returns the data; rejects on ERROR or timeout.
 */
export async function tftpFetch(
  server: { address: string; port: number },
  file: string,
  opts: { blksize?: number; windowsize?: number; timeoutMs?: number; keep?: boolean; localAddress?: string } = {},
): Promise<TftpFetchResult> {
  const started = performance.now();
  // localAddress: one simulated client per address (bench/storm gives each its own IP).
  const sock = await bindUdp(0, opts.localAddress ?? '0.0.0.0');
  const reqOpts = [{ name: 'tsize', value: '0' }];
  if (opts.blksize) reqOpts.push({ name: 'blksize', value: String(opts.blksize) });
  if (opts.windowsize) reqOpts.push({ name: 'windowsize', value: String(opts.windowsize) });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    return await new Promise<TftpFetchResult>((resolve, reject) => {
      let blksize = 512;
      let windowsize = 1;
      let expected = 1;
      let got = 0;
      let peer: { address: string; port: number } | undefined;
      const chunks: Buffer[] = [];
      let idle: NodeJS.Timeout;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => fail(new Error(`TFTP ${file}: no data for ${timeoutMs} ms`)), timeoutMs);
      };
      const fail = (e: Error) => {
        clearTimeout(idle);
        reject(e);
      };
      const ack = (block: number) => sock.send(encodeTftp({ opcode: 'ACK', block: block & 0xffff }), peer!.port, peer!.address);
      sock.on('message', (msg, rinfo) => {
        let p;
        try {
          p = decodeTftp(msg);
        } catch (e) {
          if (e instanceof TftpDecodeError) return;
          throw e;
        }
        peer ??= { address: rinfo.address, port: rinfo.port };
        arm();
        if (p.opcode === 'ERROR') return fail(new Error(`TFTP ${file}: error ${p.code} ${p.message}`));
        if (p.opcode === 'OACK') {
          for (const o of p.options) {
            if (o.name.toLowerCase() === 'blksize') blksize = Number(o.value);
            if (o.name.toLowerCase() === 'windowsize') windowsize = Number(o.value);
          }
          return ack(0);
        }
        if (p.opcode !== 'DATA') return;
        if (p.block !== (expected & 0xffff)) {
          ack(expected - 1); // out of order: ask for a resend from the block after the last good one
          return;
        }
        if (opts.keep !== false) chunks.push(Buffer.from(p.data)); // keep: false counts only (bench/storm: less garbage per block)
        got += p.data.length;
        const last = p.data.length < blksize;
        if (last || expected % windowsize === 0) ack(expected);
        expected++;
        if (last) {
          clearTimeout(idle);
          resolve({ bytes: got, data: Buffer.concat(chunks), blksize, windowsize, ms: performance.now() - started });
        }
      });
      arm();
      sock.send(encodeTftp({ opcode: 'RRQ', filename: file, mode: 'octet', options: reqOpts }), server.port, server.address);
    });
  } finally {
    sock.close();
  }
}

export async function httpFetch(url: string, timeoutMs = 10_000): Promise<{ status: number; bytes: number; body: Buffer; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, bytes: body.length, body, ms: performance.now() - started };
}
