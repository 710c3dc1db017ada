/**
 * Shared helpers for the build-module tests: a small synthetic root file system (busybox,
 * users to be cleaned, ssh keys, logs, a kernel), a tree fingerprint (every file's
 * contents, mode, owner, mtime, symlink target) and our leftover mounts/loop devices.
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const isRoot = process.getuid?.() === 0;

export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function put(root: string, rel: string, data: string | Buffer, mode = 0o644): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, data);
  chmodSync(p, mode);
}

export const BUSYBOX = '/bin/busybox';

/** A small root: enough for every cleanup step and the kernel table to have work. */
export function makeRoot(root: string, opts: { kernel?: string; dataBytes?: number } = {}): void {
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'bin', 'sbin', 'mnt', 'media', 'srv', 'var/tmp', 'usr/bin', 'home/alice', 'root']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const l of ['sh', 'ls', 'cat']) symlinkSync('busybox', join(root, 'bin', l));
  put(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\nbob:x:1001:1001:Bob:/home/bob:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  put(root, 'etc/group', 'root:x:0:\ndaemon:x:1:\nsudo:x:27:alice,bob\naudio:x:29:bob\nalice:x:1000:\nbob:x:1001:\nteachers:x:1500:alice\nnogroup:x:65534:\n');
  put(root, 'etc/shadow', 'root:$6$roothash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:$6$alicehash:19000:0:99999:7:::\nbob:$6$bobhash:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n', 0o640);
  put(root, 'etc/gshadow', 'root:*::\ndaemon:*::\nsudo:*::alice,bob\naudio:*::bob\nalice:!::\nbob:!::\nteachers:!:alice:alice\nnogroup:*::\n', 0o640);
  put(root, 'etc/passwd-', 'alice:x:1000:1000:Alice:/home/alice:/bin/sh\n');
  put(root, 'etc/shadow-', 'alice:$6$oldalicehash:19000:0:99999:7:::\n', 0o600);
  put(root, 'etc/login.defs', 'UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n');
  put(root, 'etc/hostname', 'ltsp-test\n');
  put(root, 'etc/fstab', 'UUID=1234 / ext4 defaults 0 1\n');
  put(root, 'etc/.hidden-secret', 'excluded by etc/.!(java)\n');
  put(root, 'etc/.java', 'kept: etc/.!(java) spares it\n');
  put(root, 'etc/cups/printers.conf', '# Printer configuration file\n<Printer office>\nDeviceURI ipp://10.0.0.5/\n</Printer>\n');
  put(root, 'etc/ssh/ssh_host_ed25519_key', 'PRIVATE KEY OF THE SERVER\n', 0o600);
  put(root, 'etc/ssh/ssh_host_ed25519_key.pub', 'ssh-ed25519 AAAA server\n');
  put(root, 'etc/ssh/sshd_config', 'PermitRootLogin no\n');
  put(root, 'var/log/syslog', 'a lot of log lines\n'.repeat(50), 0o640);
  put(root, 'var/log/syslog.1', 'rotated\n');
  put(root, 'var/log/apt/history.log', 'apt history\n');
  put(root, 'var/cache/debconf/passwords.dat', 'Name: mysql/root\nValue: secret\n', 0o600);
  put(root, 'home/alice/notes.txt', 'private\n');
  put(root, 'root/.bash_history', 'history\n');
  put(root, 'tmp/junk', 'junk\n');
  put(root, 'usr/share/doc/readme', 'kept as is\n');
  if (opts.dataBytes) {
    // Incompressible data so mksquashfs takes measurable time (kill tests, bench).
    const chunk = 1 << 20;
    mkdirSync(join(root, 'usr/share/data'), { recursive: true });
    for (let i = 0; i * chunk < opts.dataBytes; i++) writeFileSync(join(root, 'usr/share/data', `blob${i}`), randomBytes(chunk));
  }
  const k = opts.kernel ?? '6.1.0-10-amd64';
  put(root, `boot/vmlinuz-6.1.0-9-amd64`, 'old kernel\n');
  put(root, `boot/initrd.img-6.1.0-9-amd64`, 'old initrd\n');
  put(root, `boot/vmlinuz-${k}`, `kernel ${k}\n`);
  put(root, `boot/initrd.img-${k}`, `initrd ${k}\n`);
  symlinkSync(`boot/vmlinuz-${k}`, join(root, 'vmlinuz'));
  symlinkSync(`boot/initrd.img-${k}`, join(root, 'initrd.img'));
}

/** path → "type mode uid:gid mtime sha256|target" for every entry under root. */
export function fingerprint(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = lstatSync(p);
    let what = '';
    if (st.isSymbolicLink()) what = `-> ${readlinkSync(p)}`;
    else if (st.isFile()) what = createHash('sha256').update(readFileSync(p)).digest('hex');
    out.set(rel || '.', `${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.size} ${what}`);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(rel ? `${rel}/${e}` : e);
  };
  walk('');
  return out;
}

/** Mount points and loop devices that involve `needle` (a test's temp dir) or our work dirs. */
export function ourMounts(needle: string): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(needle) || l.includes('ltsp-ts-image-'));
  const loops = execFileSync('losetup', ['-a'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(needle));
  return [...mounts, ...loops];
}

/** `unsquashfs -l` paths (without the squashfs-root prefix). */
export function squashList(image: string): string[] {
  return execFileSync('unsquashfs', ['-l', '-d', '', image], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter((l) => l.startsWith('/'))
    .map((l) => l.slice(1));
}

export function squashCat(image: string, path: string): string {
  return execFileSync('unsquashfs', ['-cat', image, path], { encoding: 'utf8' });
}
