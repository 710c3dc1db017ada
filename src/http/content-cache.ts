/**
 * Keeps the bytes of hot boot files (kernels, initrds) in memory, so that a boot storm's
 * hundreds of identical downloads cost one write(2) each instead of read + write.
 *
 * Why: Node has no sendfile(2). Served from the file, every byte is copied twice on the
 * server (pread into a buffer, write into the socket) plus a thread-pool round trip and JS
 * per 1 MiB chunk, where nginx's sendfile copies nothing. bench/storm.mjs (500 clients,
 * each a 10 MiB kernel + 5 MiB initrd) spent most of ltsp-ts's HTTP CPU on that. From
 * memory, a response is a single `res.end(slice)`: libuv writes as the socket drains, no
 * JS per chunk, no per-response buffers (the old pipeline held up to 3 MiB per response).
 *
 * What is cached: regular files of `minFileBytes`..`maxFileBytes`, up to `maxBytes` in
 * all (least recently used out first; a response still sending an evicted buffer keeps it
 * alive until it ends). A file is loaded in the background on its first request (that
 * request and any during the load are served from the file as before), through a
 * descriptor of its own (/proc/self/fd/N of the request's descriptor: the same inode,
 * whatever the path names now).
 *
 * Staleness: the key is the inode's identity and change stamps (dev, ino, size, mtime,
 * ctime) from the fstat the request already has. A file replaced on disk (new inode, as
 * `ltsp-ts kernel` or a package upgrade does it) or written in place (mtime/ctime) gets a
 * new key; the old entry ages out. A load is kept only if fstat after the read still
 * shows the same stamps (no write raced the read).
 */
import { closeSync, fstatSync, openSync, read, type Stats } from 'node:fs';

export interface ContentCacheOptions {
  /** Total bytes kept (0 = cache off). */
  maxBytes: number;
  /** Larger files are always served from disk (default min(maxBytes, 256 MiB)). */
  maxFileBytes?: number;
  /** Smaller files are read synchronously per request anyway (default 256 KiB). */
  minFileBytes?: number;
  /** Told about every lookup of a file that qualifies (metrics). */
  onLookup?: (hit: boolean) => void;
  /** Called when a background load fails (logged by the server). */
  onLoadError?: (path: string, err: Error) => void;
}

interface Entry {
  body?: Buffer;
  /** The load failed: not retried for this version of the file (no log line per request). */
  failed?: boolean;
  /** Bytes reserved in the budget (the file size). */
  size: number;
}

const stampOf = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;

export class ContentCache {
  /** Insertion order = least recently used first. Entries without `body` are loading. */
  private readonly entries = new Map<string, Entry>();
  private used = 0;
  readonly maxBytes: number;
  readonly maxFileBytes: number;
  readonly minFileBytes: number;
  /** Counters for /metrics and tests. */
  readonly stats = { hits: 0, misses: 0, loads: 0, loadFailures: 0, evictions: 0 };

  constructor(private readonly opts: ContentCacheOptions) {
    this.maxBytes = Math.max(0, opts.maxBytes);
    this.maxFileBytes = Math.min(this.maxBytes, opts.maxFileBytes ?? 256 * 2 ** 20);
    this.minFileBytes = opts.minFileBytes ?? 256 * 1024;
  }

  /** Bytes held or being loaded. */
  get bytes(): number {
    return this.used;
  }

  /**
   * The file's bytes when cached; otherwise undefined, and a background load starts when
   * the file qualifies. `fd` stays the caller's (it is not closed or kept).
   */
  get(fd: number, st: Stats, path: string): Buffer | undefined {
    if (!st.isFile() || st.size < this.minFileBytes || st.size > this.maxFileBytes) return undefined;
    const key = stampOf(st);
    const e = this.entries.get(key);
    if (e?.body) {
      this.entries.delete(key); // most recently used to the end
      this.entries.set(key, e);
      this.stats.hits++;
      this.opts.onLookup?.(true);
      return e.body;
    }
    this.stats.misses++;
    this.opts.onLookup?.(false);
    if (!e) this.load(key, fd, st, path);
    return undefined;
  }

  /** Drops everything (server close). */
  clear(): void {
    this.entries.clear();
    this.used = 0;
  }

  private load(key: string, fd: number, st: Stats, path: string): void {
    this.makeRoom(st.size);
    if (this.used + st.size > this.maxBytes) return; // everything left is loading
    const e: Entry = { size: st.size };
    this.entries.set(key, e);
    this.used += st.size;
    this.stats.loads++;
    void this.readWhole(fd, key, st.size).then(
      (body) => {
        if (this.entries.get(key) === e) e.body = body;
      },
      (err: Error) => {
        this.stats.loadFailures++;
        if (this.entries.get(key) === e) {
          this.used -= e.size;
          e.size = 0;
          e.failed = true;
        }
        this.opts.onLoadError?.(path, err);
      },
    );
  }

  /**
   * Reads the file through a descriptor of our own on the same inode, opened now (sync, a
   * procfs lookup): the request's descriptor is closed when its response ends, and its
   * number may then name another file.
   */
  private async readWhole(fd: number, key: string, size: number): Promise<Buffer> {
    const own = openSync(`/proc/self/fd/${fd}`, 'r');
    try {
      if (stampOf(fstatSync(own)) !== key) throw new Error('file changed before caching it');
      const body = Buffer.allocUnsafeSlow(size);
      let at = 0;
      while (at < size) {
        const n = await new Promise<number>((res, rej) => read(own, body, at, Math.min(size - at, 16 * 2 ** 20), at, (e, b) => (e ? rej(e) : res(b))));
        if (n === 0) throw new Error('file shrank while caching it');
        at += n;
      }
      if (stampOf(fstatSync(own)) !== key) throw new Error('file changed while caching it');
      return body;
    } finally {
      closeSync(own);
    }
  }

  /** Evicts loaded entries, least recently used first, until `size` more bytes fit. */
  private makeRoom(size: number): void {
    for (const [k, e] of this.entries) {
      if (this.used + size <= this.maxBytes) return;
      if (!e.body && !e.failed) continue;
      this.entries.delete(k);
      this.used -= e.size;
      this.stats.evictions++;
    }
  }
}
