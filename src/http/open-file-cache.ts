/**
 * Keeps recently served files open, so that a request for a file served a moment ago
 * costs one stat(2) of its path instead of open + readlink(/proc/self/fd) + fstat + close.
 * Netboot traffic asks for the same few files (kernel, initrd, ltsp.img) over and over,
 * iPXE often in many small Range requests.
 *
 * Validation, per request: the path is stat'ed (following symlinks, as open does) and the
 * cached descriptor is used only if the path still names the very inode it was opened on,
 * unchanged: same device, inode, size, mtime and ctime. A file replaced on disk (new
 * inode, e.g. `ltsp-ts kernel` renaming a new vmlinuz into place) or written in place
 * (mtime/ctime) is opened afresh, with every check of `openInside`, before any byte of it
 * is served; the old descriptor stays open for responses still reading it (they keep the
 * old bytes) and is closed when the last one ends.
 *
 * Confinement: a descriptor enters the cache only from `openInside`, i.e. after its real
 * path was checked against the root. A hit then serves an inode that was inside the root
 * when it was checked and has not been renamed, linked or written since (rename and link
 * change the ctime). What a hit cannot see is a *directory* on the way being replaced by a
 * symlink to where the same directory now lives outside the root; the bytes served would
 * still be exactly the ones that were servable when checked. To make even that converge,
 * an entry is re-checked from scratch with `openInside` when it is older than `maxAgeMs`.
 *
 * stat runs synchronously only while the SyncGate sees page-cache speed; otherwise (and on
 * any miss) the request takes `openInside`, which handles its own sync/async choice.
 */
import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { closeQuietly, openInside, type OpenedFile, type Root } from './safe-path.js';
import { fsSyncGate } from './sync-gate.js';

interface Entry {
  key: string;
  /** The requested path (what is stat'ed to validate the entry), as bytes: no string encoding per stat. */
  joined: Buffer;
  fd: number;
  path: string;
  stat: Stats;
  /** Responses using the descriptor, plus one while the entry is in the cache. */
  refs: number;
  checkedAt: number;
}

const STAT_OPTIONS = { throwIfNoEntry: false } as const;

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export class OpenFileCache {
  /** Insertion order = least recently used first. */
  private readonly entries = new Map<string, Entry>();
  /** The entry last moved to the most recently used end. */
  private mru: Entry | undefined;

  constructor(
    readonly maxEntries = 64,
    readonly maxAgeMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Same contract as `openInside` (throws PathRefused; the caller must `close()` the file
   * exactly once), served from the cache when the path still names the cached file.
   */
  async open(root: Root, base: string, parts: string[], followOutside: boolean): Promise<OpenedFile> {
    const key = this.keyOf(root, base, parts, followOutside);
    const hit = this.hit(key);
    if (hit) return hit;
    const file = await openInside(root, base, parts, followOutside);
    this.remember(key, file);
    return file;
  }

  /**
   * The synchronous half of `open`, by the file's `keyOf` key: the cached file when the path
   * still names it, else undefined (then call `open`). Lets the common request run without a
   * promise; callers remember keys rather than build them per request.
   */
  openCachedKey(key: string): OpenedFile | undefined {
    return this.hit(key);
  }

  /** The cache key of a file (what `open` and `openCachedKey` use). */
  keyOf(root: Root, base: string, parts: string[], followOutside: boolean): string {
    // parts come from safeComponents (no '', '.', '..'), base is normalised: a plain join is path.join
    const joined = base.endsWith('/') ? path.join(base, ...parts) : `${base}/${parts.join('/')}`;
    return `${followOutside ? '1' : '0'}${root.dir}\0${joined}`;
  }

  private hit(key: string): OpenedFile | undefined {
    const e = this.entries.get(key);
    if (!e || !fsSyncGate.allowed()) return undefined;
    let st: Stats | undefined;
    try {
      st = fsSyncGate.run(() => statSync(e.joined, STAT_OPTIONS));
    } catch {
      st = undefined; // EACCES, ELOOP...: openInside gives the answer
    }
    if (st && sameFile(st, e.stat) && this.now() - e.checkedAt < this.maxAgeMs) {
      if (this.mru !== e) {
        // move to the most recently used end (a file asked for again and again stays there)
        this.entries.delete(key);
        this.entries.set(key, e);
        this.mru = e;
      }
      return this.lease(e);
    }
    this.drop(e);
    return undefined;
  }

  /** Closes every descriptor not in use by a response (server shutdown). */
  clear(): void {
    for (const e of [...this.entries.values()]) this.drop(e);
  }

  /** Number of cached files (tests). */
  get size(): number {
    return this.entries.size;
  }

  private lease(e: Entry): OpenedFile {
    e.refs++;
    let closed = false;
    return {
      fd: e.fd,
      path: e.path,
      stat: e.stat,
      close: () => {
        if (closed) return;
        closed = true;
        this.unref(e);
      },
    };
  }

  /**
   * Takes a freshly opened file into the cache: from now on its descriptor is shared and
   * closed by the cache, so the caller's `close()` becomes a release.
   */
  private remember(key: string, file: OpenedFile): void {
    const old = this.entries.get(key);
    if (old) this.drop(old);
    const e: Entry = { key, joined: Buffer.from(key.slice(key.indexOf('\0') + 1)), fd: file.fd, path: file.path, stat: file.stat, refs: 2, checkedAt: this.now() };
    this.entries.set(key, e);
    this.mru = e;
    let closed = false;
    file.close = () => {
      if (closed) return;
      closed = true;
      this.unref(e);
    };
    while (this.entries.size > this.maxEntries) this.drop(this.entries.values().next().value as Entry);
  }

  private drop(e: Entry): void {
    if (this.entries.get(e.key) !== e) return;
    this.entries.delete(e.key);
    if (this.mru === e) this.mru = undefined;
    this.unref(e);
  }

  private unref(e: Entry): void {
    if (--e.refs === 0) closeQuietly(e.fd);
  }
}
