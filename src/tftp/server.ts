/**
 * Read-only TFTP server (RFC 1350, options RFC 2347/2348/2349, windowsize RFC 7440).
 *
 * The well-known socket only receives requests; each accepted RRQ gets its own transfer on a
 * fresh ephemeral port (transfer.ts). Refusals (WRQ, bad names, missing files, server full)
 * are answered with an ERROR from the well-known socket and logged. Nothing here throws on
 * traffic: a bad datagram is logged and dropped.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { close as closeFd } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  decodeTftp,
  encodeError,
  encodeTftp,
  ErrorCode,
  ERROR_CODE_NAMES,
  negotiateOptions,
  Opcode,
  peekOpcode,
  TftpDecodeError,
  type RequestPacket,
} from '../../protocols/tftp/index.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { BootEventSink } from '../events.js';
import type { MetricsRegistry } from '../metrics.js';
import { normalizeTftpPath } from './paths.js';
import { openConfined } from './open-file.js';
import type { TransferSummary } from './transfer.js';
import { InProcessHost, WorkerPoolHost, workersAvailable, type TransferHost } from './transfer-host.js';

export interface TftpServerOptions {
  root: string;
  config: Config['tftp'];
  log: Logger;
  events?: BootEventSink;
  metrics?: MetricsRegistry;
  /** Interface MTU when known: blksize is capped at MTU - 32 (IPv4 20 + UDP 8 + TFTP 4). */
  mtu?: number;
  /**
   * Worker threads for transfers (0 = run them in this thread). Default: one per CPU, at most
   * 2 (each costs about 10 MB), when running from the compiled dist/; 0 when running from
   * TypeScript sources (vitest), where the worker script does not exist.
   */
  workers?: number;
}

export interface TftpServer {
  port: number;
  /** Stops accepting requests, lets running transfers finish for up to drainMs, aborts the rest. */
  close(drainMs?: number): Promise<void>;
  activeTransfers(): number;
}

/** Bigger kernel buffers: bursts of requests (boot storms) on the well-known port. */
const LISTEN_RCVBUF = 1 << 20;

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const { root, config, log } = opts;
  const events = opts.events ?? (() => {});
  const maxBlksize = opts.mtu ? Math.max(8, Math.min(config.maxBlksize, opts.mtu - 32)) : config.maxBlksize;
  /** Transfers (and requests being opened) by client address:port; dedups retried RRQs. */
  const transfers = new Map<string, { id: number; request: Buffer; running: boolean }>();
  const keyById = new Map<number, string>();
  let nextId = 1;
  let active = 0;
  let closing = false;

  const m = opts.metrics;
  const mTransfers = m?.counter('ltsp_tftp_transfers_total', 'TFTP transfers by outcome');
  const mRefused = m?.counter('ltsp_tftp_refused_total', 'TFTP requests refused with an ERROR, by error code');
  const mBytes = m?.counter('ltsp_tftp_data_bytes_sent_total', 'TFTP DATA payload bytes sent, retransmissions included');
  const mRetrans = m?.counter('ltsp_tftp_retransmits_total', 'TFTP blocks sent again after a timeout or a gap');
  const mActive = m?.gauge('ltsp_tftp_active_transfers', 'TFTP transfers running');

  // Retransmission timers are driven by one ticker per thread (no per-block timer churn).
  const tickMs = Math.max(10, Math.min(250, Math.floor(config.retransmitMs / 4)));
  const workers = opts.workers ?? (workersAvailable() ? Math.min(availableParallelism(), 2) : 0);
  const host: TransferHost =
    workers > 0
      ? new WorkerPoolHost(workers, onEndProxy, (err) => log.error({ err }, 'tftp: transfer worker failed'))
      : new InProcessHost(onEndProxy);
  function onEndProxy(id: number, s: TransferSummary): void {
    onEnd(id, s);
  }

  const type = config.address.includes(':') ? 'udp6' : 'udp4';
  const sock: Socket = createSocket({ type, recvBufferSize: LISTEN_RCVBUF });

  const refuse = (rinfo: RemoteInfo, code: number, message: string, logMsg: string, file?: string) => {
    log.warn({ client: `${rinfo.address}:${rinfo.port}`, file, code, reason: logMsg }, `tftp: refused ${JSON.stringify(file ?? '')}: ${logMsg}`);
    mRefused?.inc({ code });
    events({ time: Date.now(), service: 'tftp', kind: 'refused', ip: rinfo.address, ...(file !== undefined ? { file } : {}), outcome: logMsg, detail: { code } });
    if (!closing) sock.send(encodeError(code, message), rinfo.port, rinfo.address);
  };

  const onEnd = (id: number, s: TransferSummary) => {
    active--;
    mActive?.dec();
    const key = keyById.get(id);
    keyById.delete(id);
    if (key !== undefined && transfers.get(key)?.id === id) transfers.delete(key);
    mTransfers?.inc({ outcome: s.outcome });
    mBytes?.inc({}, s.bytesSent);
    mRetrans?.inc({}, s.retransmits);
    const seconds = Number((s.durationMs / 1000).toFixed(3));
    const line = { client: s.client, file: s.file, bytes: s.bytes, blksize: s.blksize, windowsize: s.windowsize, seconds, retransmits: s.retransmits, bytesSent: s.bytesSent, outcome: s.outcome, ...(s.reason ? { reason: s.reason } : {}) };
    const text = `tftp: ${s.outcome} ${s.file} to ${s.client}: ${s.bytes} bytes in ${seconds}s (blksize ${s.blksize}, windowsize ${s.windowsize}, ${s.retransmits} retransmits)${s.reason ? ` - ${s.reason}` : ''}`;
    if (s.outcome === 'ok' || s.outcome === 'aborted') log.info(line, text);
    else log.warn(line, text);
    const [ip] = s.client.split(/:(?=[^:]*$)/);
    events({ time: Date.now(), service: 'tftp', kind: 'transfer', ip: ip!, file: s.file, bytes: s.bytes, durationMs: s.durationMs, outcome: s.outcome, detail: { blksize: s.blksize, windowsize: s.windowsize, retransmits: s.retransmits, bytesSent: s.bytesSent, ...(s.reason ? { reason: s.reason } : {}) } });
  };

  async function handleRead(req: RequestPacket, raw: Buffer, rinfo: RemoteInfo): Promise<void> {
    const key = `${rinfo.address}:${rinfo.port}`;
    const existing = transfers.get(key);
    if (existing) {
      // The same RRQ again: the client did not see our first answer yet; that transfer answers it.
      if (existing.request.equals(raw)) return;
      // A new request from the same port (OVMF re-asks after aborting its tsize probe).
      if (existing.running) host.abort(existing.id, 'superseded by a new request from the same port', false);
    }
    const mode = req.mode.toLowerCase();
    if (mode !== 'octet' && mode !== 'netascii') {
      return refuse(rinfo, ErrorCode.ILLEGAL_OPERATION, `unsupported mode '${req.mode}'`, `unsupported mode ${JSON.stringify(req.mode)}`, req.filename);
    }
    if (active >= config.maxTransfers) {
      return refuse(rinfo, ErrorCode.NOT_DEFINED, `server busy: ${config.maxTransfers} transfers running, retry later`, 'concurrency limit reached', req.filename);
    }
    const path = normalizeTftpPath(req.filename, root);
    if (!path.ok) return refuse(rinfo, path.code, ERROR_CODE_NAMES[path.code]!, path.reason, req.filename);

    const entry = { id: nextId++, request: raw, running: false };
    transfers.set(key, entry);
    active++;
    mActive?.inc();
    const release = () => {
      active--;
      mActive?.dec();
      if (transfers.get(key) === entry) transfers.delete(key);
    };
    const opened = await openConfined(root, path.rel, config.followSymlinksOutside);
    if (!opened.ok) {
      release();
      return refuse(rinfo, opened.code, ERROR_CODE_NAMES[opened.code] ?? 'error', opened.reason, req.filename);
    }
    if (closing || transfers.get(key) !== entry) {
      closeFd(opened.fd, () => {});
      release();
      return;
    }
    const netascii = mode === 'netascii';
    const neg = negotiateOptions(req.options, {
      maxBlksize,
      maxWindowsize: config.maxWindowsize,
      ...(netascii ? {} : { fileSize: opened.size }),
    });
    if (neg.ignored.length > 0) log.debug({ client: key, ignored: neg.ignored }, 'tftp: options ignored');
    log.debug({ client: key, file: path.rel, blksize: neg.blksize, windowsize: neg.windowsize, tsize: neg.tsize }, 'tftp: transfer starts');
    entry.running = true;
    keyById.set(entry.id, key);
    host.start(entry.id, {
      client: { address: rinfo.address, port: rinfo.port },
      localAddress: config.address,
      file: path.rel,
      fd: opened.fd,
      netascii,
      blksize: neg.blksize,
      windowsize: neg.windowsize,
      oack: neg.oack.length > 0 ? encodeTftp({ opcode: 'OACK', options: neg.oack }) : null,
      sizeHint: netascii ? opened.size * 2 : opened.size,
      // The client's RFC 2349 timeout is echoed, but only ever shortens ours: curl asks for 6 s,
      // which would make every lost block on a LAN cost 6 s.
      timeoutMs: neg.timeoutSec !== undefined ? Math.min(neg.timeoutSec * 1000, config.retransmitMs) : config.retransmitMs,
      retries: config.retries,
      tickMs,
    });
  }

  sock.on('message', (msg, rinfo) => {
    if (closing) return;
    const op = peekOpcode(msg);
    if (op !== Opcode.RRQ && op !== Opcode.WRQ) {
      // Late ACKs/ERRORs of finished transfers and stray traffic: nothing to answer.
      log.debug({ client: `${rinfo.address}:${rinfo.port}`, opcode: op, bytes: msg.length }, 'tftp: ignored non-request datagram');
      return;
    }
    let req: RequestPacket;
    try {
      req = decodeTftp(msg) as RequestPacket;
    } catch (err) {
      if (!(err instanceof TftpDecodeError)) throw err;
      return refuse(rinfo, ErrorCode.ILLEGAL_OPERATION, 'malformed request', `malformed request (${err.kind}: ${err.message})`);
    }
    if (req.opcode === 'WRQ') {
      return refuse(rinfo, ErrorCode.ACCESS_VIOLATION, 'read-only server: uploads are not accepted', 'write request on a read-only server', req.filename);
    }
    handleRead(req, msg, rinfo).catch((err: unknown) => {
      log.error({ err, client: `${rinfo.address}:${rinfo.port}` }, 'tftp: request failed');
    });
  });
  sock.on('error', (err) => log.error({ err }, 'tftp: socket error'));

  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: config.port, address: config.address, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await host.close();
    throw err;
  }
  const port = sock.address().port;

  log.info({ address: config.address, port, root, maxBlksize, maxWindowsize: config.maxWindowsize, maxTransfers: config.maxTransfers, workers }, `tftp: serving ${root} on ${config.address}:${port}`);

  return {
    port,
    activeTransfers: () => active,
    async close(drainMs = 0) {
      if (closing) return;
      closing = true;
      await new Promise<void>((resolve) => sock.close(() => resolve()));
      const until = Date.now() + drainMs;
      while (active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      for (const e of transfers.values()) if (e.running) host.abort(e.id, 'server shutting down', true);
      // Aborted transfers report back (from workers via a message); then stop the host.
      const until2 = Date.now() + 1000;
      while (active > 0 && Date.now() < until2) await new Promise((r) => setTimeout(r, 5));
      await host.close();
    },
  };
}
