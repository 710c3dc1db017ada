/**
 * `ltsp-ts nfs`: the exports file in LTSP's format, and the generated nfs-ganesha config
 * served by a real ganesha.nfsd (VFS FSAL, NFSv3) that the libnfs clients nfs-ls and
 * nfs-cat read an image back from, checked by sha256.
 *
 * ganesha needs rpcbind to register NFSv3 and MOUNT. So that nothing touches the host's
 * network or /run, rpcbind, ganesha and the clients run in a private network + mount
 * namespace (`unshare --net --mount`, loopback only, tmpfs on /run and /var/lib/nfs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderExports, renderGanesha } from '../src/image/nfs.js';
import { have, isRoot } from './image-fixtures.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/ltsp-ts.js', ...args], { encoding: 'utf8' });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One line of LTSP's ltsp-nfs.exports: `PATH *(FLAGS)`. */
const LTSP_RO = /^(\S+) \*\(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure\)$/;

describe('ltsp-ts nfs: exports file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-nfs-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('renders LTSP lines: BASE_DIR and TFTP_DIR/ltsp read-only, HOME_DIR rw only with NFS_HOME', () => {
    const s = { baseDir: '/srv/ltsp', tftpDir: '/srv/tftp', homeDir: '/home', nfsHome: false, nfsTftp: true };
    const lines = renderExports(s).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([
      '/srv/ltsp *(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure)',
      '/srv/tftp/ltsp *(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure)',
    ]);
    const home = renderExports({ ...s, nfsHome: true, nfsTftp: false }).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(home).toEqual(['/srv/ltsp *(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure)', '/home *(rw,async,no_subtree_check,no_root_squash,insecure)']);
    expect(renderExports({ ...s, baseDir: '/srv/my ltsp' })).toContain('"/srv/my ltsp" *(ro,');
    expect(() => renderExports({ ...s, baseDir: '/srv/a"b' })).toThrow(/not supported/);
    const g = renderGanesha(s);
    expect(g).toContain('Protocols = 3;');
    expect(g.match(/FSAL \{ Name = VFS; \}/g)).toHaveLength(2);
    expect(g).toContain('Path = "/srv/tftp/ltsp";');
  });

  it('CLI: --dry-run writes nothing; a real run writes the file and creates the directories', () => {
    const ex = join(dir, 'exports.d/ltsp-ts.exports');
    const base = join(dir, 'srv/ltsp');
    const tftp = join(dir, 'srv/tftp');
    const dry = cli('nfs', '--dry-run', '--exports-file', ex, '--base-dir', base, '--tftp-dir', tftp);
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain(`${base} *(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure)`);
    expect(() => readFileSync(ex)).toThrow();
    const r = cli('nfs', '--exports-file', ex, '--base-dir', base, '--tftp-dir', tftp, '--nfs-home', '1');
    expect(r.status).toBe(0);
    const lines = readFileSync(ex, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toMatch(LTSP_RO);
    expect(lines[0]!.split(' ')[0]).toBe(base);
    expect(lines[1]).toBe(`${tftp}/ltsp *(ro,async,crossmnt,no_subtree_check,no_root_squash,insecure)`);
    expect(lines[2]).toBe('/home *(rw,async,no_subtree_check,no_root_squash,insecure)');
    expect(() => readFileSync(join(tftp, 'ltsp'))).toThrow(/EISDIR/);
    if (!have('exportfs')) expect(r.stderr).toMatch(/exportfs not found \(Debian package nfs-kernel-server\)/);
  });
});

const ganeshaReady = isRoot && ['ganesha.nfsd', 'rpcbind', 'nfs-ls', 'nfs-cat', 'unshare', 'mksquashfs'].every(have);

describe.skipIf(!ganeshaReady)('ltsp-ts nfs --ganesha: real nfs-ganesha serves the image over NFSv3', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'im-ganesha-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('nfs-ls lists images/ and nfs-cat returns the image byte for byte', () => {
    const base = join(dir, 'srv/ltsp');
    const tftp = join(dir, 'srv/tftp');
    const src = join(dir, 'src');
    mkdirSync(join(src, 'proc'), { recursive: true });
    writeFileSync(join(src, 'data.bin'), randomBytes(3 << 20));
    mkdirSync(join(base, 'images'), { recursive: true, mode: 0o700 });
    const img = join(base, 'images/demo.img');
    execFileSync('mksquashfs', [src, img, '-noappend', '-quiet', '-comp', 'gzip'], { stdio: 'ignore' });
    mkdirSync(join(tftp, 'ltsp/demo'), { recursive: true });
    writeFileSync(join(tftp, 'ltsp/demo/vmlinuz'), 'kernel bytes\n');

    const conf = join(dir, 'ganesha.conf');
    const r = cli('nfs', '--exports-file', join(dir, 'ltsp-ts.exports'), '--ganesha', conf, '--base-dir', base, '--tftp-dir', tftp);
    expect(r.status, r.stderr).toBe(0);

    const out = join(dir, 'image.out');
    // Everything below runs inside the private namespaces and stops by itself.
    const script = `
set -eu
ip link set lo up
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib/nfs 2>/dev/null || true
mkdir -p /run/rpcbind
GP=; RP=
trap 'kill $GP $RP 2>/dev/null; wait 2>/dev/null' EXIT
trap 'exit 1' INT TERM
rpcbind -f -w & RP=$!
for i in $(seq 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
ganesha.nfsd -F -f "$1" -L "$2/ganesha.log" -p "$2/ganesha.pid" -N NIV_EVENT & GP=$!
for i in $(seq 100); do rpcinfo -p 127.0.0.1 2>/dev/null | grep -q ' 100005 ' && break; sleep 0.1; done
nfs-ls "nfs://127.0.0.1$3/images?version=3" > "$2/ls.out"
nfs-cat "nfs://127.0.0.1$3/images/demo.img?version=3" > "$4"
nfs-cat "nfs://127.0.0.1$5/ltsp/demo/vmlinuz?version=3" > "$2/vmlinuz.out"
`;
    const run = spawnSync('timeout', ['60', 'unshare', '--net', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', conf, dir, base, out, tftp], { encoding: 'utf8' });
    let log = '';
    try {
      log = readFileSync(join(dir, 'ganesha.log'), 'utf8');
    } catch {
      /* no log */
    }
    expect(run.status, `${run.stderr}\n${log.split('\n').filter((l) => /CRIT|MAJ|FATAL/.test(l)).join('\n')}`).toBe(0);
    expect(readFileSync(join(dir, 'ls.out'), 'utf8')).toMatch(/demo\.img/);
    expect(sha(readFileSync(out))).toBe(sha(readFileSync(img)));
    expect(readFileSync(join(dir, 'vmlinuz.out'), 'utf8')).toBe('kernel bytes\n');
  });
});
