/**
 * Opens a file under the TFTP root and checks, on the opened descriptor, that it really is
 * inside the root: symlinks are followed by open(), then /proc/self/fd/N names the file that
 * was actually opened, so a link swapped between check and open cannot escape (no TOCTOU).
 */
import { constants, open, close, fstat, readlink, realpath } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode } from '../../protocols/tftp/index.js';

const openP = promisify(open);
const fstatP = promisify(fstat);
const readlinkP = promisify(readlink);
const realpathP = promisify(realpath);

export type OpenResult =
  | { ok: true; fd: number; size: number; realPath: string }
  | { ok: false; code: number; reason: string };

function isInside(p: string, realRoot: string): boolean {
  return realRoot === '/' || p === realRoot || p.startsWith(realRoot + '/');
}

function errnoResult(err: NodeJS.ErrnoException): OpenResult {
  switch (err.code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: `file not found (${err.code})` };
    case 'EACCES':
    case 'EPERM':
      return { ok: false, code: ErrorCode.ACCESS_VIOLATION, reason: `permission denied (${err.code})` };
    default:
      return { ok: false, code: ErrorCode.NOT_DEFINED, reason: `cannot open (${err.code ?? err.message})` };
  }
}

/** Path of the file behind an open descriptor (Linux /proc); falls back to realpath(name). */
async function pathOfFd(fd: number, fallback: string): Promise<string> {
  try {
    const p = await readlinkP(`/proc/self/fd/${fd}`);
    // An unlinked file reads as "<path> (deleted)": the bytes are still the ones opened.
    return p.endsWith(' (deleted)') ? p.slice(0, -' (deleted)'.length) : p;
  } catch {
    return realpathP(fallback);
  }
}

export async function openConfined(root: string, rel: string, followSymlinksOutside: boolean): Promise<OpenResult> {
  let realRoot: string;
  try {
    realRoot = await realpathP(root);
  } catch (err) {
    return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: `TFTP root ${root} unusable (${(err as NodeJS.ErrnoException).code})` };
  }
  const full = join(realRoot, rel);
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO planted in the root must not hang the server.
    fd = await openP(full, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return errnoResult(err as NodeJS.ErrnoException);
  }
  try {
    const st = await fstatP(fd);
    if (!st.isFile()) {
      close(fd, () => {});
      return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: 'not a regular file' };
    }
    const realPath = await pathOfFd(fd, full);
    if (!followSymlinksOutside && !isInside(realPath, realRoot)) {
      close(fd, () => {});
      return { ok: false, code: ErrorCode.ACCESS_VIOLATION, reason: `resolves outside the TFTP root (${realPath})` };
    }
    return { ok: true, fd, size: st.size, realPath };
  } catch (err) {
    close(fd, () => {});
    return errnoResult(err as NodeJS.ErrnoException);
  }
}
