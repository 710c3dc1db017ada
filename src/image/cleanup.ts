/**
 * LTSP's image cleanup (ltsp/server/image/55-cleanup.sh), run on the overlay root before
 * mksquashfs so that the squashfs holds no secrets or host-specific state:
 *
 *  1. printers: etc/cups/printers.conf reduced to its comment lines;
 *  2. users: normal accounts and their groups dropped (passwd.ts), the `-` backups
 *     (etc/passwd- ...) deleted;
 *  3. resolv.conf: the change of `ltsp dnsmasq --dns=1` undone;
 *  4. ssh host keys: replaced by fresh ones (ssh-keygen) or, without ssh-keygen, removed;
 *  5. snakeoil certificate: regenerated when openssl is there;
 *  6. top-level var/log files, etc/fstab and var/cache/debconf/passwords.dat emptied.
 *
 * It refuses to run unless the root is an overlayfs, as LTSP does: every write lands in
 * the tmpfs upper layer. Every path is checked component by component with lstat and
 * opened with O_NOFOLLOW, so an absolute symlink in a chroot (etc/fstab -> /etc/fstab)
 * can never make us write to the host.
 */
import { constants } from 'node:fs';
import { lstat, open, readFile, readdir, rm, statfs, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Logger } from '../log.js';
import { ImageError } from './errors.js';
import { DEFAULT_LOGIN_DEFS, parseLoginDefs, removeNormalAccounts } from './passwd.js';
import { findTool } from './tools.js';

const OVERLAYFS_MAGIC = 0x794c7630;

export interface CleanupReport {
  removedUsers: string[];
  removedGroups: string[];
  truncated: string[];
  removed: string[];
  regenerated: string[];
}

/** `rel` inside `root` with no symlink in any component (a missing path is fine). */
async function safePath(root: string, rel: string): Promise<string | undefined> {
  let p = root;
  const comps = rel.split('/').filter(Boolean);
  for (const [i, c] of comps.entries()) {
    p = join(p, c);
    try {
      const st = await lstat(p);
      if (st.isSymbolicLink()) return undefined;
      if (i < comps.length - 1 && !st.isDirectory()) return undefined;
    } catch {
      return p; // does not exist: nothing to follow
    }
  }
  return p;
}

/** A regular file (not a symlink) at `rel`, or undefined. */
async function regularFile(root: string, rel: string): Promise<string | undefined> {
  const p = await safePath(root, rel);
  if (!p) return undefined;
  try {
    return (await lstat(p)).isFile() ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Overwrite a file's contents in place (keeps owner and mode), never following symlinks. */
async function rewrite(path: string, data: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  try {
    await fh.writeFile(data);
  } finally {
    await fh.close();
  }
}

async function removePrinters(root: string, r: CleanupReport): Promise<void> {
  const p = await regularFile(root, 'etc/cups/printers.conf');
  if (!p) return;
  const text = await readFile(p, 'utf8');
  await rewrite(p, text.split('\n').filter((l) => l.startsWith('#')).map((l) => `${l}\n`).join(''));
  r.truncated.push('etc/cups/printers.conf');
}

async function removeUsers(root: string, r: CleanupReport, log?: Logger): Promise<void> {
  const paths = {
    passwd: await regularFile(root, 'etc/passwd'),
    group: await regularFile(root, 'etc/group'),
    shadow: await regularFile(root, 'etc/shadow'),
    gshadow: await regularFile(root, 'etc/gshadow'),
  };
  if (!paths.passwd || !paths.group) {
    log?.warn('no etc/passwd or etc/group in the image: user cleanup skipped');
    return;
  }
  // The image's own login.defs (pwmerge reads the server's; for chrootless they match).
  const defsPath = await regularFile(root, 'etc/login.defs');
  const defs = defsPath ? parseLoginDefs(await readFile(defsPath, 'utf8')) : DEFAULT_LOGIN_DEFS;
  const read = async (p?: string) => (p ? readFile(p, 'utf8') : undefined);
  const res = removeNormalAccounts(
    { passwd: (await read(paths.passwd))!, group: (await read(paths.group))!, shadow: await read(paths.shadow), gshadow: await read(paths.gshadow) },
    defs,
  );
  for (const k of ['passwd', 'group', 'shadow', 'gshadow'] as const) {
    const p = paths[k];
    const text = res.files[k];
    if (p && text !== undefined && text !== (await readFile(p, 'utf8'))) await rewrite(p, text);
  }
  r.removedUsers.push(...res.removedUsers);
  r.removedGroups.push(...res.removedGroups);
  for (const b of ['group-', 'gshadow-', 'passwd-', 'shadow-', 'subgid-', 'subuid-']) {
    const p = await regularFile(root, `etc/${b}`);
    if (p) {
      await unlink(p);
      r.removed.push(`etc/${b}`);
    }
  }
}

async function resolvConf(root: string, r: CleanupReport): Promise<void> {
  const p = await regularFile(root, 'etc/systemd/resolved.conf.d/ltsp.conf');
  if (!p) return;
  await unlink(p);
  r.removed.push('etc/systemd/resolved.conf.d/ltsp.conf');
  const rc = await safePath(root, 'etc');
  if (!rc) return;
  await rm(join(rc, 'resolv.conf'), { force: true });
  await symlink('../run/systemd/resolve/stub-resolv.conf', join(rc, 'resolv.conf'));
}

async function sshHostKeys(root: string, r: CleanupReport, log?: Logger): Promise<void> {
  const keygen = await findTool('ssh-keygen');
  for (const t of ['dsa', 'ecdsa', 'ed25519', 'rsa']) {
    const rel = `etc/ssh/ssh_host_${t}_key`;
    const p = await regularFile(root, rel);
    if (!p) continue;
    await unlink(p);
    const pub = await regularFile(root, `${rel}.pub`);
    if (pub) await unlink(pub);
    r.removed.push(rel);
    if (!keygen) continue;
    const res = await execa(keygen, ['-q', '-f', p, '-N', '', '-t', t], { reject: false, stdin: 'ignore' });
    if (res.exitCode === 0) r.regenerated.push(rel);
    else log?.warn({ key: rel, err: res.stderr.trim() }, 'ssh-keygen failed; key removed, not replaced');
  }
}

async function sslCert(root: string, r: CleanupReport, log?: Logger): Promise<void> {
  const key = await regularFile(root, 'etc/ssl/private/ssl-cert-snakeoil.key');
  const certDir = await safePath(root, 'etc/ssl/certs');
  const openssl = await findTool('openssl');
  if (!key || !certDir || !openssl) return;
  const cert = join(certDir, 'ssl-cert-snakeoil.pem');
  if ((await lstat(cert).catch(() => undefined))?.isSymbolicLink()) await unlink(cert);
  const res = await execa(openssl, ['req', '-batch', '-new', '-x509', '-days', '3650', '-nodes', '-sha256', '-out', cert, '-keyout', key], {
    reject: false,
    stdin: 'ignore',
  });
  if (res.exitCode === 0) r.regenerated.push('etc/ssl/private/ssl-cert-snakeoil.key');
  else log?.warn({ err: res.stderr.trim() }, 'openssl failed; snakeoil certificate left as it was');
}

async function truncateFiles(root: string, r: CleanupReport): Promise<void> {
  const logDir = await safePath(root, 'var/log');
  if (logDir) {
    const entries = await readdir(logDir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isFile()) continue; // subdirectories are excluded by image.excludes
      const st = await lstat(join(logDir, e.name));
      if (st.size === 0) continue;
      await rewrite(join(logDir, e.name), '');
      r.truncated.push(`var/log/${e.name}`);
    }
  }
  for (const rel of ['etc/fstab', 'var/cache/debconf/passwords.dat']) {
    const p = await regularFile(root, rel);
    if (p && (await lstat(p)).size > 0) {
      await rewrite(p, '');
      r.truncated.push(rel);
    }
  }
}

/** Run every cleanup step on an overlay root. */
export async function cleanupRoot(root: string, log?: Logger): Promise<CleanupReport> {
  const fs = await statfs(root);
  if (fs.type !== OVERLAYFS_MAGIC) throw new ImageError(`refusing to clean up ${root}: not an overlay (the source would be modified)`);
  const r: CleanupReport = { removedUsers: [], removedGroups: [], truncated: [], removed: [], regenerated: [] };
  await removePrinters(root, r);
  await removeUsers(root, r, log);
  await resolvConf(root, r);
  await sshHostKeys(root, r, log);
  await sslCert(root, r, log);
  await truncateFiles(root, r);
  return r;
}
