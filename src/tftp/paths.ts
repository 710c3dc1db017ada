/**
 * Request file names to paths under the TFTP root, the way dnsmasq treats them (tftp.c):
 * `\` is taken as `/`, a leading `/` is stripped (a name that already starts with the root
 * is taken relative to it), and any `..` component is refused. Pure: no file system access;
 * symlinks are checked after open (open-file.ts).
 */
import { ErrorCode } from '../../protocols/tftp/index.js';

export type PathDecision =
  | { ok: true; rel: string }
  | { ok: false; code: typeof ErrorCode.FILE_NOT_FOUND | typeof ErrorCode.ACCESS_VIOLATION; reason: string };

/** Linux PATH_MAX and NAME_MAX. */
const MAX_PATH = 4095;
const MAX_COMPONENT = 255;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @param name file name as decoded by the codec (latin1: one char per byte)
 * @param root the TFTP root as configured (for dnsmasq's "already starts with the root" rule)
 */
export function normalizeTftpPath(name: string, root: string): PathDecision {
  if (name.includes('\0')) return { ok: false, code: ErrorCode.ACCESS_VIOLATION, reason: 'NUL byte in file name' };
  let p: string;
  try {
    p = utf8.decode(Buffer.from(name, 'latin1'));
  } catch {
    return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: 'file name is not valid UTF-8' };
  }
  p = p.replace(/\\/g, '/');
  const r = root.replace(/\/+$/, '');
  if (r !== '' && (p === r || p.startsWith(r + '/'))) p = p.slice(r.length);
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) return { ok: false, code: ErrorCode.ACCESS_VIOLATION, reason: "'..' component in file name" };
  if (parts.length === 0) return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: 'empty file name' };
  const rel = parts.join('/');
  if (Buffer.byteLength(rel) > MAX_PATH || parts.some((c) => Buffer.byteLength(c) > MAX_COMPONENT)) {
    return { ok: false, code: ErrorCode.FILE_NOT_FOUND, reason: 'file name too long' };
  }
  return { ok: true, rel };
}
