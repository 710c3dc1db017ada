/**
 * Sequential readers that fill a transfer's preallocated block buffers from an open file.
 * Contract of read()/readSync(): the buffers are filled in order; fewer bytes than their total
 * capacity means end of file. Reads never overlap (the transfer keeps one in flight).
 *
 * readSync() exists for worker threads: a thread-pool round trip per refill costs more than
 * the read itself when the file is in the page cache, and under load the pool threads are
 * scheduled late enough to stall lock-step transfers. A worker blocking on a cold disk delays
 * only its own transfers, never the main thread (proxyDHCP, HTTP).
 */
import { close, read, readSync, readv, readvSync } from 'node:fs';
import { NetasciiEncoder } from '../../protocols/tftp/index.js';

/** Closes a descriptor: fs.close by default; worker threads hand it back to the thread that opened it. */
export type CloseFd = (fd: number) => void;
const closeHere: CloseFd = (fd) => close(fd, () => {});

export type ReadCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

export interface BlockSource {
  read(bufs: Buffer[], cb: ReadCallback): void;
  /** Blocking variant; throws the fs error. */
  readSync(bufs: Buffer[]): number;
  /** Closes the descriptor; call only when no read is in flight. */
  close(): void;
}

/** Octet mode: one readv() per refill, straight into the block slots. */
export class OctetSource implements BlockSource {
  private pos = 0;
  constructor(
    private readonly fd: number,
    private readonly closeFd: CloseFd = closeHere,
  ) {}
  read(bufs: Buffer[], cb: ReadCallback): void {
    readv(this.fd, bufs, this.pos, (err, n) => {
      if (!err) this.pos += n;
      cb(err, n);
    });
  }
  readSync(bufs: Buffer[]): number {
    const n = readvSync(this.fd, bufs, this.pos);
    this.pos += n;
    return n;
  }
  close(): void {
    this.closeFd(this.fd);
  }
}

/** Netascii mode: reads raw chunks and expands LF/CR on the way (size not known in advance). */
export class NetasciiSource implements BlockSource {
  private readonly raw = Buffer.allocUnsafe(64 * 1024);
  private rawStart = 0;
  private rawEnd = 0;
  private pos = 0;
  private eof = false;
  private readonly enc = new NetasciiEncoder();
  constructor(
    private readonly fd: number,
    private readonly closeFd: CloseFd = closeHere,
  ) {}

  /**
   * Encodes buffered raw bytes into bufs from (index, offset). Returns where it stopped:
   * done (bufs full or end of file) or in need of more raw bytes.
   */
  private fill(bufs: Buffer[], at: { i: number; off: number; total: number }): 'done' | 'need-raw' {
    while (at.i < bufs.length) {
      const buf = bufs[at.i]!;
      while (at.off < buf.length) {
        if (this.rawStart === this.rawEnd && !this.enc.hasPending) {
          if (!this.eof) return 'need-raw';
          at.total += at.off;
          return 'done';
        }
        const r = this.enc.encode(this.raw, this.rawStart, this.rawEnd, buf, at.off, buf.length);
        this.rawStart += r.read;
        at.off += r.written;
      }
      at.total += at.off;
      at.i++;
      at.off = 0;
    }
    return 'done';
  }

  private gotRaw(n: number): void {
    this.pos += n;
    this.rawStart = 0;
    this.rawEnd = n;
    if (n === 0) this.eof = true;
  }

  read(bufs: Buffer[], cb: ReadCallback): void {
    const at = { i: 0, off: 0, total: 0 };
    const step = (): void => {
      if (this.fill(bufs, at) === 'done') return cb(null, at.total);
      read(this.fd, this.raw, 0, this.raw.length, this.pos, (err, n) => {
        if (err) return cb(err, 0);
        this.gotRaw(n);
        step();
      });
    };
    step();
  }

  readSync(bufs: Buffer[]): number {
    const at = { i: 0, off: 0, total: 0 };
    while (this.fill(bufs, at) === 'need-raw') this.gotRaw(readSync(this.fd, this.raw, 0, this.raw.length, this.pos));
    return at.total;
  }

  close(): void {
    this.closeFd(this.fd);
  }
}
