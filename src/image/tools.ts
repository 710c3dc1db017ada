/**
 * External programs the build module runs, and the Debian package that ships each, so a
 * missing one gives "install squashfs-tools" instead of ENOENT.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { ImageError } from './errors.js';

export const DEBIAN_PACKAGE: Record<string, string> = {
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  blkid: 'util-linux',
  sfdisk: 'fdisk',
  ionice: 'util-linux',
  nice: 'coreutils',
  exportfs: 'nfs-kernel-server',
  'ssh-keygen': 'openssh-client',
  openssl: 'openssl',
};

/** sbin directories are searched too: root's PATH under sudo or cron may lack them. */
const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

const cache = new Map<string, string | undefined>();

/** Absolute path of an executable, or undefined. */
export async function findTool(name: string): Promise<string | undefined> {
  if (cache.has(name)) return cache.get(name);
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_PATH];
  let found: string | undefined;
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      await access(p, constants.X_OK);
      found = p;
      break;
    } catch {
      /* next */
    }
  }
  cache.set(name, found);
  return found;
}

/** Absolute path of an executable, or an ImageError naming the Debian package to install. */
export async function requireTool(name: string): Promise<string> {
  const p = await findTool(name);
  if (p) return p;
  const pkg = DEBIAN_PACKAGE[name];
  throw new ImageError(`${name} not found${pkg ? `: install the Debian package '${pkg}' (apt-get install ${pkg})` : ''}`);
}

/** Building images and mounting needs root, as with `ltsp image`. */
export function requireRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new ImageError(`${what} must run as root (it mounts file systems and loop devices)`);
  }
}
