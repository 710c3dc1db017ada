/**
 * One read transfer on its own ephemeral, connected UDP socket (RFC 1350 "TID").
 *
 * Blocks live in a preallocated ring of slots, each `4 + blksize` bytes laid out as the DATA
 * datagram itself, so sending a block is one send() of a slot view: no per-packet allocation
 * or copy. The ring holds at least two windows; the reader refills the free half with one
 * readv() while the current window is in flight (read-ahead).
 *
 * Block numbers are tracked as absolute integers (1, 2, ... past 65535); the wire carries
 * them mod 65536, so they roll over to 0 after 65535 as tftpd-hpa and dnsmasq do.
 *
 * Retransmission (RFC 1123 4.2.3.1, RFC 7440 4): a duplicate ACK never triggers a send (the
 * Sorcerer's Apprentice bug; with windows it is the EDK2 storm). An ACK that moves forward
 * but stops inside the window means the client saw a gap: the next window starts at the
 * block after it, once per burst (ACKs provoked by blocks of an older burst only slide the
 * window). A timeout re-sends the unacknowledged window, with exponential backoff and a
 * retry limit.
 */
import { createSocket, type Socket } from 'node:dgram';
import { ackBlock, decodeTftp, encodeError, ErrorCode, Opcode, peekOpcode, TftpDecodeError } from '../../protocols/tftp/index.js';
import type { BlockSource } from './block-source.js';

export type TransferOutcome = 'ok' | 'aborted' | 'timeout' | 'error' | 'shutdown';

export interface TransferSummary {
  client: string;
  file: string;
  /** File bytes the client acknowledged. */
  bytes: number;
  blksize: number;
  windowsize: number;
  durationMs: number;
  /** Blocks (and OACKs) sent more than once. */
  retransmits: number;
  /** DATA payload bytes put on the wire, retransmissions included. */
  bytesSent: number;
  outcome: TransferOutcome;
  /** Why it ended when not 'ok' (client's ERROR text, timeout, read error). */
  reason?: string;
}

export interface TransferParams {
  client: { address: string; port: number };
  /** Local address to bind the transfer socket to (the server's listen address). */
  localAddress: string;
  file: string;
  source: BlockSource;
  blksize: number;
  windowsize: number;
  /** Encoded OACK to send first, or null to start with DATA 1. */
  oack: Uint8Array | null;
  /** Expected size in bytes (sizes the ring for small files; a guess is fine). */
  sizeHint: number;
  timeoutMs: number;
  retries: number;
  /** Read with readvSync on this thread (worker threads) instead of the libuv pool. */
  syncReads?: boolean;
  onEnd: (t: Transfer, s: TransferSummary) => void;
}

/** Ring target: 64 KiB of read-ahead (at least two windows; windows are capped at 64 KiB). */
const RING_BYTES = 64 * 1024;
/** readv() takes at most IOV_MAX (1024) buffers. */
const MAX_IOV = 1024;
const MAX_BACKOFF_MS = 10_000;

export class Transfer {
  private readonly socket: Socket;
  private readonly n: number;
  private readonly slotSize: number;
  private readonly ring: Buffer;
  /** Full-size DATA datagram view of each slot. */
  private readonly packets: Buffer[];
  /** Payload view of each slot (what readv fills). */
  private readonly payloads: Buffer[];

  private state: 'starting' | 'oack' | 'data' | 'done' = 'starting';
  /** Highest block the client acknowledged (0 = none, or the OACK). */
  private acked = 0;
  /** Highest block sent in the current pass (rewound on timeout or a partial ACK). */
  private sent = 0;
  /** Highest block ever sent: anything at or below it being sent again is a retransmit. */
  private maxSent = 0;
  /** Highest block whose bytes are in the ring. */
  private readTo = 0;
  /** Number of the final block once the reader saw end of file. */
  private last = Number.POSITIVE_INFINITY;
  private lastLen = 0;
  private reading = false;
  /** Highest block sent before the last rewind (timeout or gap); see onMessage. */
  private rewindGuard = 0;

  private readonly started = Date.now();
  private deadline = 0;
  /** sendWindow() calls so far, and the count when the deadline was last set (see tick). */
  private sends = 0;
  private armedSends = 0;
  private currentTimeout: number;
  private tries = 0;
  private retransmits = 0;
  private bytesSent = 0;

  constructor(private readonly p: TransferParams) {
    this.currentTimeout = p.timeoutMs;
    this.slotSize = p.blksize + 4;
    const blocksNeeded = Math.floor(p.sizeHint / p.blksize) + 1;
    // Small files get a small ring; a window larger than the ring is simply limited by it.
    const target = Math.max(2 * p.windowsize, Math.ceil(RING_BYTES / p.blksize));
    this.n = Math.max(1, Math.min(target, blocksNeeded, 2 * MAX_IOV));
    this.ring = Buffer.allocUnsafeSlow(this.n * this.slotSize);
    this.packets = new Array<Buffer>(this.n);
    this.payloads = new Array<Buffer>(this.n);
    for (let i = 0; i < this.n; i++) {
      const off = i * this.slotSize;
      this.packets[i] = this.ring.subarray(off, off + this.slotSize);
      this.payloads[i] = this.ring.subarray(off + 4, off + this.slotSize);
      this.ring[off] = 0;
      this.ring[off + 1] = Opcode.DATA;
    }
    const type = p.localAddress.includes(':') ? 'udp6' : 'udp4';
    this.socket = createSocket({ type });
    this.socket.on('message', (msg: Buffer) => {
      // A bug here must end this transfer, not the process (nothing a client sends should throw).
      try {
        this.onMessage(msg);
      } catch (err) {
        this.finish('error', `internal error: ${(err as Error).message}`);
      }
    });
    this.socket.on('error', this.onSocketError);
  }

  get clientKey(): string {
    return `${this.p.client.address}:${this.p.client.port}`;
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Binds an ephemeral port, connects it to the client, starts reading and sends the first packet. */
  start(): void {
    this.refill();
    this.socket.bind({ port: 0, address: this.p.localAddress, exclusive: true }, () => {
      if (this.state === 'done') return;
      this.socket.connect(this.p.client.port, this.p.client.address, (err?: Error) => {
        if (this.state === 'done') return;
        if (err) return this.finish('error', `connect: ${err.message}`);
        if (this.p.oack) {
          this.state = 'oack';
          this.sendRaw(this.p.oack);
          this.arm(Date.now());
        } else {
          this.state = 'data';
          this.sendWindow();
        }
      });
    });
  }

  /** Called by the server's ticker: retransmit or give up when the deadline has passed. */
  tick(now: number): void {
    if (this.state === 'starting' || this.state === 'done') return;
    // Sends since the last tick: the deadline counts from now (a tick after the send, so the
    // timeout is never shorter than before; a clock read per block was 2% of the user time).
    if (this.sends !== this.armedSends) return this.arm(now);
    if (now < this.deadline) return;
    // Nothing in flight: waiting for the disk, not for the client.
    if (this.state === 'data' && this.sent <= this.acked) return;
    if (++this.tries > this.p.retries) {
      const why = this.lastSocketError ? ` (last socket error ${this.lastSocketError})` : '';
      return this.finish('timeout', `no ACK after ${this.p.retries} retransmissions${why}`);
    }
    this.currentTimeout = Math.min(this.currentTimeout * 2, Math.max(MAX_BACKOFF_MS, this.p.timeoutMs));
    if (this.state === 'oack') {
      this.retransmits++;
      this.sendRaw(this.p.oack!);
    } else {
      this.rewindGuard = this.sent;
      this.sent = this.acked;
      this.sendWindow();
    }
    this.arm(now);
  }

  /**
   * Ends the transfer from outside: server shutdown (tell the client), or a new request from
   * the same client port (quiet: an ERROR now could be taken as the answer to the new request).
   */
  abort(message: string, tellClient = true): void {
    if (this.state === 'done') return;
    if (tellClient && this.state !== 'starting') this.sendRaw(encodeError(ErrorCode.NOT_DEFINED, message));
    this.finish('shutdown', message);
  }

  private arm(now: number): void {
    this.armedSends = this.sends;
    this.deadline = now + this.currentTimeout;
  }

  private sendRaw(buf: Uint8Array): void {
    try {
      this.socket.send(buf);
    } catch {
      // Socket already closed: the transfer is ending anyway.
    }
  }

  /** Sends blocks sent+1 .. min(acked + windowsize, what has been read). */
  private sendWindow(): void {
    const end = Math.min(this.acked + this.p.windowsize, this.readTo);
    if (this.sent >= end) return;
    const sock = this.socket;
    for (let b = this.sent + 1; b <= end; b++) {
      const slot = (b - 1) % this.n;
      const pkt = this.packets[slot]!;
      pkt[2] = (b >> 8) & 0xff;
      pkt[3] = b & 0xff;
      if (b === this.last) {
        sock.send(pkt.subarray(0, 4 + this.lastLen));
        this.bytesSent += this.lastLen;
      } else {
        sock.send(pkt);
        this.bytesSent += this.p.blksize;
      }
      if (b <= this.maxSent) this.retransmits++;
    }
    this.sent = end;
    if (end > this.maxSent) this.maxSent = end;
    this.sends++;
  }

  /** Starts a read into the free slots when at least half the ring is free. */
  private refill(): void {
    if (this.reading || this.readTo >= this.last || this.state === 'done') return;
    const free = this.acked + this.n - this.readTo;
    if (free < Math.max(1, this.n >> 1)) return;
    const count = Math.min(free, MAX_IOV);
    const bufs = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) bufs[i] = this.payloads[(this.readTo + i) % this.n]!;
    if (this.p.syncReads) {
      let bytes: number;
      try {
        bytes = this.p.source.readSync(bufs);
      } catch (err) {
        return this.readFailed(err as NodeJS.ErrnoException);
      }
      return this.readDone(count, bytes);
    }
    this.reading = true;
    this.p.source.read(bufs, (err, bytes) => {
      this.reading = false;
      if (this.state === 'done') return this.p.source.close();
      if (err) return this.readFailed(err);
      this.readDone(count, bytes);
    });
  }

  private readFailed(err: NodeJS.ErrnoException): void {
    this.sendRaw(encodeError(ErrorCode.NOT_DEFINED, 'read error'));
    this.finish('error', `read: ${err.code ?? err.message}`);
  }

  private readDone(count: number, bytes: number): void {
    if (bytes < count * this.p.blksize) {
      // Short read = end of file: the next block is the last, possibly empty.
      this.last = this.readTo + Math.floor(bytes / this.p.blksize) + 1;
      this.lastLen = bytes % this.p.blksize;
      this.readTo = this.last;
    } else {
      this.readTo += count;
    }
    if (this.state === 'data') this.sendWindow();
    this.refill();
  }

  private readonly onMessage = (msg: Buffer): void => {
    if (this.state === 'done' || this.state === 'starting') return;
    const blk = ackBlock(msg);
    if (blk < 0) return this.onOther(msg);
    if (this.state === 'oack') {
      if (blk !== 0) return;
      this.state = 'data';
      this.tries = 0;
      this.currentTimeout = this.p.timeoutMs;
      this.sendWindow();
      return;
    }
    // Map the 16-bit block onto the absolute numbering, relative to the last ACK.
    const delta = (blk - (this.acked & 0xffff)) & 0xffff;
    if (delta === 0) return; // duplicate ACK: never re-send on it
    const b = this.acked + delta;
    if (b > this.sent) return; // older than the last ACK, or a block not sent yet
    this.acked = b;
    this.tries = 0;
    this.currentTimeout = this.p.timeoutMs;
    if (b === this.last) return this.finish('ok');
    if (b < this.sent && b > this.rewindGuard) {
      // RFC 7440 4: an ACK inside the window means the client saw a gap; resume after it.
      this.rewindGuard = this.sent;
      this.sent = b;
    }
    // An ACK at or below the guard was caused by blocks of a burst we already re-sent (atftp
    // ACKs every duplicate it receives): it only slides the window. Rewinding on it would
    // resend blocks already in flight, which cause more duplicate ACKs: a self-sustaining storm.
    this.sendWindow();
    this.refill();
  };

  private onOther(msg: Buffer): void {
    if (peekOpcode(msg) === Opcode.ERROR) {
      let reason = 'client sent ERROR';
      try {
        const e = decodeTftp(msg);
        if (e.opcode === 'ERROR') reason = `client ERROR ${e.code}: ${e.message}`;
      } catch (err) {
        if (!(err instanceof TftpDecodeError)) throw err;
      }
      // ERROR 8 after our OACK is how OVMF ends its tsize probe: end quietly.
      return this.finish('aborted', reason);
    }
    this.sendRaw(encodeError(ErrorCode.ILLEGAL_OPERATION, 'expected ACK'));
    this.finish('error', `unexpected opcode ${peekOpcode(msg)} from client`);
  }

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    if (this.state === 'done') return;
    // ECONNREFUSED: ICMP port unreachable, the client has gone away.
    if (err.code === 'ECONNREFUSED') return this.finish('aborted', 'client port unreachable');
    // Anything else on send (EPERM from a firewall, ENOBUFS) is treated like loss: the
    // retransmit timer retries and gives up with this reason if it persists.
    this.lastSocketError = err.code ?? err.message;
  };
  private lastSocketError: string | undefined;

  private finish(outcome: TransferOutcome, reason?: string): void {
    if (this.state === 'done') return;
    this.state = 'done';
    if (!this.reading) this.p.source.close();
    // Close after queued sends (a final ERROR) have been handed to the kernel.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    });
    const bytes = this.acked >= this.last ? (this.last - 1) * this.p.blksize + this.lastLen : this.acked * this.p.blksize;
    this.p.onEnd(this, {
      client: this.clientKey,
      file: this.p.file,
      bytes,
      blksize: this.p.blksize,
      windowsize: this.p.windowsize,
      durationMs: Date.now() - this.started,
      retransmits: this.retransmits,
      bytesSent: this.bytesSent,
      outcome,
      ...(reason ? { reason } : {}),
    });
  }
}
