/**
 * Sequential readers that fill a transfer's preallocated block buffers from an open file.
 * Contract of read(): the buffers are filled in order; fewer bytes than their total
 * capacity means end of file. Reads never overlap (the transfer keeps one in flight).
 */
import { close, read, readv } from 'node:fs';
import { promisify } from 'node:util';
import { NetasciiEncoder } from '../../protocols/tftp/index.js';

export interface BlockSource {
  read(bufs: Buffer[], cb: (err: NodeJS.ErrnoException | null, bytes: number) => void): void;
  /** Closes the descriptor; call only when no read is in flight. */
  close(): void;
}

/** Octet mode: one readv() per refill, straight into the block slots. */
export class OctetSource implements BlockSource {
  private pos = 0;
  constructor(private readonly fd: number) {}
  read(bufs: Buffer[], cb: (err: NodeJS.ErrnoException | null, bytes: number) => void): void {
    readv(this.fd, bufs, this.pos, (err, n) => {
      if (!err) this.pos += n;
      cb(err, n);
    });
  }
  close(): void {
    close(this.fd, () => {});
  }
}

const readP = promisify(read);

/** Netascii mode: reads raw chunks and expands LF/CR on the way (size not known in advance). */
export class NetasciiSource implements BlockSource {
  private readonly raw = Buffer.allocUnsafe(64 * 1024);
  private rawStart = 0;
  private rawEnd = 0;
  private pos = 0;
  private eof = false;
  private readonly enc = new NetasciiEncoder();
  constructor(private readonly fd: number) {}

  read(bufs: Buffer[], cb: (err: NodeJS.ErrnoException | null, bytes: number) => void): void {
    this.fill(bufs).then(
      (n) => cb(null, n),
      (err: NodeJS.ErrnoException) => cb(err, 0),
    );
  }

  private async fill(bufs: Buffer[]): Promise<number> {
    let total = 0;
    for (const buf of bufs) {
      let off = 0;
      while (off < buf.length) {
        if (this.rawStart === this.rawEnd && !this.enc.hasPending) {
          if (this.eof) return total + off;
          const { bytesRead } = await readP(this.fd, this.raw, 0, this.raw.length, this.pos);
          this.pos += bytesRead;
          this.rawStart = 0;
          this.rawEnd = bytesRead;
          if (bytesRead === 0) this.eof = true;
          continue;
        }
        const r = this.enc.encode(this.raw, this.rawStart, this.rawEnd, buf, off, buf.length);
        this.rawStart += r.read;
        off += r.written;
      }
      total += off;
    }
    return total;
  }

  close(): void {
    close(this.fd, () => {});
  }
}
