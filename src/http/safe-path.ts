/**
 * Maps a request path to a file inside a root directory, the way the TFTP server confines
 * its names: percent-decoding happens exactly once, then NUL bytes, backslashes and `..`
 * components are refused before the file system is touched, and the real path (symlinks
 * resolved) must still lie inside the root unless symlinks out of it are allowed.
 *
 * Decoding once means `%252e%252e` stays the literal name `%2e%2e` (not found), and `%2f`
 * is a separator that is checked like any other.
 */
import { closeSync, constants, fstatSync, open, openSync, readlinkSync, realpath as realpathCb, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { fsSyncGate } from './sync-gate.js';

/** realpath(3) in one syscall (fs.promises.realpath walks the path with lstat in JS). */
const realpath = promisify(realpathCb.native);
const openP = promisify(open);

export class PathRefused extends Error {
  constructor(
    readonly status: 400 | 403 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Splits an already-undecoded URL path (the part after the route prefix, no query) into
 * safe components. Throws PathRefused(400) on anything that could name a file outside.
 */
export function safeComponents(encoded: string): string[] {
  let decoded = encoded;
  if (encoded.includes('%')) {
    try {
      decoded = decodeURIComponent(encoded);
    } catch {
      throw new PathRefused(400, 'bad percent-encoding');
    }
  }
  if (decoded.includes('\0')) throw new PathRefused(400, 'NUL byte in path');
  // dnsmasq/tftpd take '\' as '/' for DOS clients; no HTTP client needs that, so refuse it.
  if (decoded.includes('\\')) throw new PathRefused(400, 'backslash in path');
  const parts = decoded.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw new PathRefused(400, "'..' in path");
  if (parts.length === 0) throw new PathRefused(404, 'empty file name');
  return parts;
}

/** Is `p` equal to `root` or inside it (both absolute and normalised)? */
export function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Real path of `root`, cached once it resolves (the root is fixed for a server's life). */
export class Root {
  private real?: string;
  constructor(readonly dir: string) {}

  async realDir(): Promise<string> {
    this.real ??= await realpath(this.dir);
    return this.real;
  }
}

/** An opened, confined regular file. The caller must `close()` it exactly once when done. */
export interface OpenedFile {
  fd: number;
  /** Real path of the opened file (symlinks resolved). */
  path: string;
  stat: Stats;
  /** Closes the descriptor (or releases it to open-file-cache.ts, which then owns it). */
  close: () => void;
}

/**
 * Opens `parts` under `base` (a directory at or below `root.dir`) and checks the file that
 * was actually opened: its real path, read back from /proc/self/fd (no window between
 * check and use, and no extra thread-pool round trip), must lie inside the root unless
 * `followOutside`; it must be a regular file. O_NONBLOCK keeps a FIFO planted in the tree
 * from blocking the open. Only open(2) can wait for the disk (it runs synchronously while
 * the SyncGate sees fast calls): readlink on procfs and fstat on an open fd are in-memory.
 *
 * ENOENT/ENOTDIR/not a regular file → 404, EACCES → 403, outside the root → 403.
 */
export async function openInside(root: Root, base: string, parts: string[], followOutside: boolean): Promise<OpenedFile> {
  const joined = path.join(base, ...parts);
  let fd: number;
  let rootReal: string;
  try {
    rootReal = await root.realDir();
    const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
    // Synchronously while opens are fast (cached dentries); see sync-gate.ts.
    fd = fsSyncGate.allowed() ? fsSyncGate.run(() => openSync(joined, flags)) : await openP(joined, flags);
  } catch (err) {
    throw refusal(err);
  }
  try {
    let real: string;
    try {
      real = readlinkSync(`/proc/self/fd/${fd}`);
      // An unlinked (replaced) file reads as "<path> (deleted)": the bytes are still the ones opened.
      if (real.endsWith(' (deleted)')) real = real.slice(0, -' (deleted)'.length);
    } catch {
      real = await realpath(joined); // no procfs: check the name instead of the descriptor
    }
    if (!followOutside && !isInside(rootReal, real)) throw new PathRefused(403, 'symlink leaves the root');
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new PathRefused(404, 'not a regular file');
    let closed = false;
    const close = () => {
      // idempotent: a second close(2) could hit a descriptor number reused meanwhile
      if (!closed) closeQuietly(fd);
      closed = true;
    };
    return { fd, path: real, stat, close };
  } catch (err) {
    closeQuietly(fd);
    throw err instanceof PathRefused ? err : refusal(err);
  }
}

/**
 * Closes a read-only descriptor synchronously: close(2) of a file opened for reading has
 * nothing to flush, and the sync call spares a thread-pool round trip per request.
 */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF/EIO on a read-only fd: nothing to recover
  }
}

function refusal(err: unknown): PathRefused {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new PathRefused(403, 'permission denied');
  if (code === 'ELOOP') return new PathRefused(403, 'symlink loop');
  return new PathRefused(404, 'not found');
}
