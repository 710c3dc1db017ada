/**
 * Option negotiation for a read request: RFC 2347 (OACK), 2348 (blksize), 2349 (timeout, tsize),
 * 7440 (windowsize). Pure: the caller passes its limits and the file size.
 *
 * Rules applied (the RFCs leave the server some room; these are the choices):
 *   - names are case-insensitive; the OACK echoes the client's spelling, in the client's order;
 *   - values must be plain decimal digits, otherwise the option is ignored (not an error);
 *   - unknown options and repeats of an option are ignored (RFC 2347: "silently ignore");
 *   - blksize outside 8..65464 is ignored; above the server's limit it is lowered to the limit;
 *   - timeout outside 1..255 is ignored; otherwise echoed unchanged (RFC 2349 allows no change);
 *   - tsize is answered with the real size when the server knows it, else ignored;
 *   - windowsize outside 1..65535 is ignored; it is lowered to the server's limit and so that
 *     windowsize x blksize stays within maxWindowBytes (a window must fit the receiver's UDP
 *     buffer, or a whole window is lost at once and retried forever; see baselines.md).
 * An OACK is due only when at least one option was accepted (`oack.length > 0`).
 */
import type { TftpOption } from './packet.js';

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MIN_TIMEOUT = 1;
export const MAX_TIMEOUT = 255;
export const MAX_WINDOWSIZE = 65535;
/** Default for OptionLimits.maxWindowBytes: 64 KiB in flight per transfer. */
export const DEFAULT_MAX_WINDOW_BYTES = 64 * 1024;

export interface OptionLimits {
  /** Highest blksize to grant (config, and interface MTU - 32 when known). */
  maxBlksize: number;
  maxWindowsize: number;
  /** Cap on windowsize x blksize. */
  maxWindowBytes?: number;
  /** Size to answer tsize with; undefined = do not answer tsize (e.g. netascii, where it is unknown). */
  fileSize?: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** RFC 2349 timeout in seconds, when the client asked for a valid one. */
  timeoutSec?: number;
  /** The tsize answered, when tsize was accepted. */
  tsize?: number;
  /** Options for the OACK; empty = send no OACK, start with DATA 1. */
  oack: TftpOption[];
  /** Options the client sent that were not accepted, with the reason (for logs). */
  ignored: { name: string; value: string; reason: string }[];
}

function decimal(v: string): number | undefined {
  return /^[0-9]{1,10}$/.test(v) ? Number(v) : undefined;
}

export function negotiateOptions(requested: readonly TftpOption[], limits: OptionLimits): Negotiated {
  const maxWindowBytes = limits.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES;
  const seen = new Set<string>();
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, oack: [], ignored: [] };
  // windowsize depends on the final blksize, so it is settled after the loop.
  let windowOpt: { opt: TftpOption; n: number; index: number } | undefined;

  for (const opt of requested) {
    const key = opt.name.toLowerCase();
    const n = decimal(opt.value);
    const ignore = (reason: string) => out.ignored.push({ name: opt.name, value: opt.value, reason });
    if (seen.has(key)) {
      ignore('repeated');
      continue;
    }
    seen.add(key);
    switch (key) {
      case 'blksize':
        if (n === undefined || n < MIN_BLKSIZE || n > MAX_BLKSIZE) ignore(`not in ${MIN_BLKSIZE}..${MAX_BLKSIZE}`);
        else {
          out.blksize = Math.max(MIN_BLKSIZE, Math.min(n, limits.maxBlksize, MAX_BLKSIZE));
          out.oack.push({ name: opt.name, value: String(out.blksize) });
        }
        break;
      case 'timeout':
        if (n === undefined || n < MIN_TIMEOUT || n > MAX_TIMEOUT) ignore(`not in ${MIN_TIMEOUT}..${MAX_TIMEOUT}`);
        else {
          out.timeoutSec = n;
          out.oack.push({ name: opt.name, value: String(n) });
        }
        break;
      case 'tsize':
        if (n === undefined) ignore('not a number');
        else if (limits.fileSize === undefined) ignore('size unknown in this mode');
        else {
          out.tsize = limits.fileSize;
          out.oack.push({ name: opt.name, value: String(limits.fileSize) });
        }
        break;
      case 'windowsize':
        if (n === undefined || n < 1 || n > MAX_WINDOWSIZE) ignore(`not in 1..${MAX_WINDOWSIZE}`);
        else windowOpt = { opt, n, index: out.oack.length };
        break;
      default:
        ignore('unknown option');
    }
  }
  if (windowOpt) {
    const byBytes = Math.max(1, Math.floor(maxWindowBytes / out.blksize));
    out.windowsize = Math.max(1, Math.min(windowOpt.n, limits.maxWindowsize, byBytes));
    out.oack.splice(windowOpt.index, 0, { name: windowOpt.opt.name, value: String(out.windowsize) });
  }
  return out;
}
