/**
 * Finding the kernel and initrd in an image with LTSP's table (55-kernel.sh
 * search_kernel). Each row is a kernel glob and a sed substitution that turns the kernel
 * path into the initrd path; each glob is tried in the root and in boot/; within a row
 * the pairs are sorted newest first (`sort -rV`); the first row with a pair whose two
 * files exist wins. The user's KERNEL_INITRD ("glob sed-expression") comes first.
 *
 * Works on a FileTree (a listing of the image), so the same search runs over a chroot
 * directory and over `unsquashfs -lls` output without mounting. Pure.
 */
import { ImageError } from './errors.js';

export interface TreeNode {
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Symlink target as stored. */
  target?: string;
}

/** Relative path (no leading '/', '' = root) → node. */
export type FileTree = Map<string, TreeNode>;

export interface KernelRow {
  glob: string;
  sed: string;
}

/** LTSP's table, in order (after the user's row). */
export const KERNEL_TABLE: readonly KernelRow[] = [
  { glob: 'boot/*/loader/linux', sed: 's|linux|initrd|' }, // openSUSE live
  { glob: 'casper/vmlinuz', sed: 's|vmlinuz|initrd|' }, // Ubuntu 18+ live
  { glob: 'casper/vmlinuz', sed: 's|vmlinuz|initrd.lz|' }, // Ubuntu 10-14, Mint 19
  { glob: 'casper/vmlinuz', sed: 's|vmlinuz|initrd.gz|' }, // Ubuntu 8 live
  { glob: 'install.amd/vmlinuz', sed: 's|vmlinuz|initrd.gz|' }, // Debian installer DVD
  { glob: 'isolinux/vmlinuz', sed: 's|vmlinuz|initrd.img|' }, // Fedora live
  { glob: 'live/vmlinuz-*', sed: 's|vmlinuz|initrd.img|' }, // Debian live
  { glob: 'vmlinuz', sed: 's|vmlinuz|initrd.img|' }, // Debian symlinks (kernel-img.conf)
  { glob: 'vmlinuz-*', sed: 's|vmlinuz|initrd.img|' }, // deb-based installs
  { glob: 'vmlinuz-*', sed: 's|vmlinuz-\\(.*\\)|initramfs-\\1.img|' }, // CentOS, Gentoo
  { glob: 'vmlinuz', sed: 's|vmlinuz|core.gz|' }, // Tiny Core
];

/** Top-level directories the table can reach; listings are limited to these. */
export const KERNEL_DIRS = ['boot', 'casper', 'install.amd', 'isolinux', 'live'];

/** Parse `-k "GLOB SED"` (LTSP reads the two whitespace-separated columns). */
export function parseKernelInitrd(v: string): KernelRow {
  const m = /^\s*(\S+)\s+(\S.*?)\s*$/.exec(v);
  if (!m) throw new ImageError(`--kernel-initrd '${v}': expected "GLOB SED-EXPRESSION", e.g. "vmlinuz-* s|vmlinuz|initrd.img|"`);
  sedSubstitute(m[2]!); // validate now
  return { glob: m[1]!, sed: m[2]! };
}

/** Translate a POSIX basic regular expression (GNU flavour) to a JS RegExp source. */
function breToJs(bre: string): string {
  let out = '';
  for (let i = 0; i < bre.length; i++) {
    const c = bre[i]!;
    if (c === '\\' && i + 1 < bre.length) {
      const n = bre[++i]!;
      if ('(){}+?|'.includes(n)) out += n;
      else if (/[1-9]/.test(n)) out += `\\${n}`;
      else out += `\\${n}`;
    } else if ('(){}+?|'.includes(c)) out += `\\${c}`;
    else out += c;
  }
  return out;
}

/** A sed `s<d>RE<d>REPL<d>[g]` expression as a function. */
export function sedSubstitute(expr: string): (s: string) => string {
  if (expr.length < 4 || expr[0] !== 's') throw new ImageError(`not a sed substitution: '${expr}'`);
  const d = expr[1]!;
  const fields: string[] = [];
  let cur = '';
  for (let i = 2; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '\\' && expr[i + 1] === d) {
      cur += d === '|' || d === '/' ? `\\${d}` : d;
      i++;
    } else if (c === d) {
      fields.push(cur);
      cur = '';
    } else cur += c;
  }
  fields.push(cur);
  if (fields.length !== 3 || !/^g?$/.test(fields[2]!)) throw new ImageError(`bad sed substitution: '${expr}'`);
  let re: RegExp;
  try {
    re = new RegExp(breToJs(fields[0]!), fields[2] === 'g' ? 'g' : '');
  } catch (err) {
    throw new ImageError(`bad regular expression in '${expr}': ${(err as Error).message}`);
  }
  // sed replacement: \1..\9 groups, & whole match, \& a literal &.
  const repl = fields[1]!.replace(/\$/g, '$$$$').replace(/\\([1-9])|\\&|&|\\(.)/g, (m, g: string | undefined, lit: string | undefined) => {
    if (g) return `$${g}`;
    if (m === '\\&') return '&';
    if (m === '&') return '$&';
    return lit ?? '';
  });
  return (s) => s.replace(re, repl);
}

/** GNU `sort -V`-like comparison: digit runs numerically, the rest by code unit. */
export function versionCompare(a: string, b: string): number {
  const ra = a.match(/\d+|\D+/g) ?? [];
  const rb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(ra.length, rb.length); i++) {
    const x = ra[i];
    const y = rb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const dx = /^\d/.test(x);
    const dy = /^\d/.test(y);
    if (dx && dy) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function children(tree: FileTree, dir: string): string[] {
  const prefix = dir === '' ? '' : `${dir}/`;
  const out: string[] = [];
  for (const p of tree.keys()) {
    if (p === '' || !p.startsWith(prefix)) continue;
    const rest = p.slice(prefix.length);
    if (rest !== '' && !rest.includes('/')) out.push(rest);
  }
  return out;
}

/** Follow symlinks (relative or absolute within the image); the final path, or undefined. */
export function resolveInTree(tree: FileTree, path: string): string | undefined {
  let comps = path.split('/').filter(Boolean);
  for (let hops = 0; hops < 40; hops++) {
    let cur: string[] = [];
    let restarted = false;
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i]!;
      if (c === '.') continue;
      if (c === '..') {
        cur.pop();
        continue;
      }
      const p = [...cur, c].join('/');
      const n = tree.get(p);
      if (!n) return undefined;
      if (n.type === 'symlink') {
        const t = n.target ?? '';
        const base = t.startsWith('/') ? [] : cur;
        comps = [...base, ...t.split('/').filter(Boolean), ...comps.slice(i + 1)];
        restarted = true;
        break;
      }
      cur = [...cur, c];
    }
    if (!restarted) return cur.join('/');
  }
  return undefined;
}

function isFile(tree: FileTree, path: string): boolean {
  const r = resolveInTree(tree, path);
  return r !== undefined && tree.get(r)?.type === 'file';
}

/** Paths matching a glob in the tree (symlinked directories followed). */
export function globTree(tree: FileTree, glob: string): string[] {
  let current = [''];
  for (const comp of glob.split('/').filter(Boolean)) {
    const next: string[] = [];
    const hasMagic = /[*?[]/.test(comp);
    const re = globToRegExp(comp);
    for (const dir of current) {
      const real = dir === '' ? '' : resolveInTree(tree, dir);
      if (real === undefined) continue;
      const names = hasMagic ? children(tree, real).filter((n) => re.test(n) && !n.startsWith('.')) : [comp];
      for (const n of names) {
        const shown = dir === '' ? n : `${dir}/${n}`;
        const inReal = real === '' ? n : `${real}/${n}`;
        if (tree.has(inReal)) next.push(shown);
      }
    }
    current = next;
  }
  return current.filter((p) => p !== '');
}

export interface KernelPair {
  /** As found (may be a symlink such as `vmlinuz`). */
  vmlinuz: string;
  initrd: string;
}

/** LTSP's search_kernel over a tree. */
export function searchKernel(tree: FileTree, user?: KernelRow): KernelPair | undefined {
  const rows = user ? [user, ...KERNEL_TABLE] : KERNEL_TABLE;
  for (const row of rows) {
    const sub = sedSubstitute(row.sed);
    const found: KernelPair[] = [];
    for (const prefix of ['', 'boot/']) {
      for (const vmlinuz of globTree(tree, prefix + row.glob)) {
        if (!isFile(tree, vmlinuz)) continue;
        const initrd = sub(vmlinuz);
        if (initrd === vmlinuz || !isFile(tree, initrd)) continue;
        found.push({ vmlinuz, initrd });
      }
    }
    found.sort((a, b) => versionCompare(`${b.vmlinuz}\t${b.initrd}`, `${a.vmlinuz}\t${a.initrd}`));
    if (found[0]) return found[0];
  }
  return undefined;
}

/**
 * Parse `unsquashfs -lls -d '' IMAGE` lines: `MODE OWNER SIZE DATE TIME /path[ -> target]`
 * (device nodes show `major, minor` instead of the size).
 */
export function parseUnsquashfsListing(text: string): FileTree {
  const tree: FileTree = new Map([['', { type: 'dir' }]]);
  for (const line of text.split('\n')) {
    const m = /^([-dlcbps])[-rwxsStT]{9}\s+\S+\s+(?:\d+,\s*\d+|\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
    if (!m) continue;
    let path = m[2]!;
    let target: string | undefined;
    const type: TreeNode['type'] = m[1] === '-' ? 'file' : m[1] === 'd' ? 'dir' : m[1] === 'l' ? 'symlink' : 'other';
    if (type === 'symlink') {
      const i = path.indexOf(' -> ');
      if (i >= 0) {
        target = path.slice(i + 4);
        path = path.slice(0, i);
      }
    }
    path = path.replace(/^\/+/, '');
    tree.set(path, target !== undefined ? { type, target } : { type });
  }
  return tree;
}
