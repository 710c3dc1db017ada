/** Pure parts of the build module: img_src, naming, accounts, excludes, kernel table, parsers. */
import { describe, expect, it } from 'vitest';
import { detectVirtualDiskFormat, parseBlkidExport, parseSfdiskJson } from '../src/image/disk.js';
import { mergeExcludes } from '../src/image/excludes.js';
import { imagePathToName, machineImageName, parseImgSrc, validateImageName } from '../src/image/img-src.js';
import { parseKernelInitrd, parseUnsquashfsListing, searchKernel, sedSubstitute, versionCompare, type FileTree } from '../src/image/kernel-search.js';
import { parseLoginDefs, removeNormalAccounts } from '../src/image/passwd.js';
import { mksquashfsArgv, parseProgress, wordSplit } from '../src/image/squash.js';

function tree(files: Record<string, string | null>): FileTree {
  // value: null = regular file, string = symlink target; parent directories are implied.
  const t: FileTree = new Map([['', { type: 'dir' }]]);
  for (const [p, target] of Object.entries(files)) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) t.set(parts.slice(0, i).join('/'), { type: 'dir' });
    t.set(p, target === null ? { type: 'file' } : { type: 'symlink', target });
  }
  return t;
}

describe('img_src', () => {
  it('splits parts on ,, and recognises partition/fstype/subdir only at the start', () => {
    expect(parseImgSrc('/,,/boot,subdir=boot,,/opt,subdir=opt')).toEqual([
      { path: '/', options: '' },
      { path: '/boot', subdir: 'boot', options: '' },
      { path: '/opt', subdir: 'opt', options: '' },
    ]);
    expect(parseImgSrc('vm.img,partition=2,fstype=ext4,ro,noload')).toEqual([{ path: 'vm.img', partition: 2, fstype: 'ext4', options: 'ro,noload' }]);
    expect(parseImgSrc('x.iso,loop,subdir=a')).toEqual([{ path: 'x.iso', options: 'loop,subdir=a' }]);
    expect(() => parseImgSrc('a,partition=0')).toThrow(/partition/);
    expect(() => parseImgSrc('/,,/boot,subdir=../../etc')).toThrow(/'\.\.' is not allowed/);
    expect(() => parseImgSrc('')).toThrow();
  });
  it('names images as LTSP does', async () => {
    expect(machineImageName('x86_64')).toBe('x86_64');
    expect(machineImageName('i686')).toBe('x86_32');
    expect(machineImageName('aarch64')).toBe('aarch64');
    expect(await imagePathToName('/', 'i586')).toBe('x86_32');
    expect(await imagePathToName('/', 'x86_64')).toBe('x86_64');
    expect(() => validateImageName('a,b', '/x/a,b')).toThrow(/no commas/);
    expect(() => validateImageName('a b', '/x/a b')).toThrow(/no spaces/);
    await expect(imagePathToName('/nonexistent/zzz')).rejects.toThrow(/doesn't exist/);
  });
});

describe('accounts cleanup', () => {
  it('drops normal users, their empty groups and memberships; keeps system lines byte for byte', () => {
    const r = removeNormalAccounts(
      {
        passwd: 'root:x:0:0::/root:/bin/sh\nu1:x:1000:1000::/home/u1:/bin/sh\nsvc:x:999:999::/:/bin/false\n',
        group: 'root:x:0:\nsudo:x:27:u1,svc\nu1:x:1000:\nshared:x:2000:svc\nlonely:x:2001:u1\nsvc:x:999:\n',
        shadow: 'root:$6$r:1::::::\nu1:$6$u:1::::::\nsvc:!:1::::::\n',
        gshadow: 'sudo:*:u1:u1,svc\nu1:!::\nlonely:!::u1\nshared:!::svc\n',
      },
      parseLoginDefs('# comment\nUID_MIN\t1000\nUID_MAX 60000\nGID_MIN 1000\n'),
    );
    expect(r.removedUsers).toEqual(['u1']);
    expect(r.removedGroups.sort()).toEqual(['lonely', 'u1']);
    expect(r.files.passwd).toBe('root:x:0:0::/root:/bin/sh\nsvc:x:999:999::/:/bin/false\n');
    expect(r.files.group).toBe('root:x:0:\nsudo:x:27:svc\nshared:x:2000:svc\nsvc:x:999:\n');
    expect(r.files.shadow).toBe('root:$6$r:1::::::\nsvc:!:1::::::\n');
    expect(r.files.gshadow).toBe('sudo:*::svc\nshared:!::svc\n');
  });
  it('honours a custom UID range and keeps primary groups of kept users', () => {
    const r = removeNormalAccounts({ passwd: 'a:x:500:1500::/:/bin/sh\nb:x:1500:1500::/:/bin/sh\n', group: 'g:x:1500:\n' }, { uidMin: 1000, uidMax: 2000, gidMin: 1000, gidMax: 2000 });
    expect(r.files.passwd).toBe('a:x:500:1500::/:/bin/sh\n');
    expect(r.files.group).toBe('g:x:1500:\n'); // still a's primary group
  });
});

describe('excludes', () => {
  it('merges ADD/OMIT like LTSP: comments dropped, sorted, unique', () => {
    expect(mergeExcludes(['# c', 'tmp/*', 'home/*', 'proc/*'], ['srv/x', 'home/*'], ['proc/*'])).toEqual(['home/*', 'srv/x', 'tmp/*']);
  });
});

describe('kernel table', () => {
  it('sed substitutions with BRE groups', () => {
    expect(sedSubstitute('s|vmlinuz-\\(.*\\)|initramfs-\\1.img|')('boot/vmlinuz-5.14.0')).toBe('boot/initramfs-5.14.0.img');
    expect(sedSubstitute('s|vmlinuz|initrd.img|')('boot/vmlinuz-6.1')).toBe('boot/initrd.img-6.1');
    expect(sedSubstitute('s/a/[&]/g')('banana')).toBe('b[a]n[a]n[a]');
    expect(() => sedSubstitute('y|a|b|')).toThrow();
    expect(parseKernelInitrd('boot/Image  s|Image|initrd.img|')).toEqual({ glob: 'boot/Image', sed: 's|Image|initrd.img|' });
  });
  it('version sort puts 6.1.0-10 after 6.1.0-9', () => {
    expect(['vmlinuz-6.1.0-9', 'vmlinuz-6.1.0-10', 'vmlinuz-5.19.0-50'].sort(versionCompare)).toEqual(['vmlinuz-5.19.0-50', 'vmlinuz-6.1.0-9', 'vmlinuz-6.1.0-10']);
  });
  it('rows in LTSP order, newest first within a row, symlinks resolved, missing initrd skipped', () => {
    const deb = tree({ 'boot/vmlinuz-6.1.0-9': null, 'boot/initrd.img-6.1.0-9': null, 'boot/vmlinuz-6.1.0-10': null, 'boot/initrd.img-6.1.0-10': null, 'boot/vmlinuz-6.2': null });
    expect(searchKernel(deb)).toEqual({ vmlinuz: 'boot/vmlinuz-6.1.0-10', initrd: 'boot/initrd.img-6.1.0-10' });
    const centos = tree({ 'boot/vmlinuz-5.14.0-1.el9': null, 'boot/initramfs-5.14.0-1.el9.img': null });
    expect(searchKernel(centos)?.initrd).toBe('boot/initramfs-5.14.0-1.el9.img');
    const live = tree({ 'casper/vmlinuz': null, 'casper/initrd.lz': null });
    expect(searchKernel(live)).toEqual({ vmlinuz: 'casper/vmlinuz', initrd: 'casper/initrd.lz' });
    const links = tree({ vmlinuz: 'boot/vmlinuz-6.1', 'initrd.img': '/boot/initrd.img-6.1', 'boot/vmlinuz-6.1': null, 'boot/initrd.img-6.1': null, 'boot/vmlinuz-9': null, 'boot/initrd.img-9': null });
    expect(searchKernel(links)).toEqual({ vmlinuz: 'vmlinuz', initrd: 'initrd.img' });
    const dangling = tree({ vmlinuz: 'boot/gone', 'boot/vmlinuz-3': null, 'boot/initrd.img-3': null });
    expect(searchKernel(dangling)?.vmlinuz).toBe('boot/vmlinuz-3');
    expect(searchKernel(tree({ 'boot/Image': null, 'boot/initrd.img': null }))).toBeUndefined();
    expect(searchKernel(tree({ 'boot/Image': null, 'boot/initrd.img': null }), parseKernelInitrd('Image s|Image|initrd.img|'))).toEqual({ vmlinuz: 'boot/Image', initrd: 'boot/initrd.img' });
  });
  it('parses unsquashfs -lls listings, including symlinks and device nodes', () => {
    const t = parseUnsquashfsListing(
      [
        'drwxr-xr-x root/root                53 2026-11-21 21:59 ',
        'drwxr-xr-x root/root                64 2026-11-21 21:59 /boot',
        '-rw-r--r-- root/root                 2 2026-11-21 21:59 /boot/initrd.img-6.1',
        'lrwxrwxrwx root/root                20 2026-11-21 21:59 /vmlinuz -> boot/vmlinuz-6.1',
        'crw-rw-rw- root/root             1,  3 2026-11-21 21:59 /dev/null',
        '-rw-r--r-- root/root                 2 2026-11-21 21:59 /a file with spaces',
      ].join('\n'),
    );
    expect(t.get('boot')).toEqual({ type: 'dir' });
    expect(t.get('vmlinuz')).toEqual({ type: 'symlink', target: 'boot/vmlinuz-6.1' });
    expect(t.get('dev/null')).toEqual({ type: 'other' });
    expect(t.get('a file with spaces')).toEqual({ type: 'file' });
  });
});

describe('mksquashfs call and progress', () => {
  it('builds LTSP’s exact argv', () => {
    expect(mksquashfsArgv(wordSplit('nice ionice -c3'), '/tmp/r', '/srv/ltsp/images/x.img.tmp', '/e', wordSplit(' -comp  zstd '))).toEqual([
      'nice', 'ionice', '-c3', 'mksquashfs', '/tmp/r', '/srv/ltsp/images/x.img.tmp', '-noappend', '-wildcards', '-ef', '/e', '-comp', 'zstd',
    ]);
    expect(wordSplit('')).toEqual([]);
  });
  it('parses mksquashfs progress redraws', () => {
    expect(parseProgress('\r[=====/      ] 120/400  30%\r[========-   ] 200/400  50%')).toEqual({ done: 200, total: 400, percent: 50 });
    expect(parseProgress('Parallel mksquashfs: Using 2 processors\n')).toBeUndefined();
  });
});

describe('disk probing', () => {
  it('recognises formats LTSP cannot use', () => {
    expect(detectVirtualDiskFormat(Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'))).toBe('qcow2');
    const vdi = Buffer.alloc(72);
    vdi.writeUInt32LE(0xbeda107f, 64);
    expect(detectVirtualDiskFormat(vdi)).toBe('vdi');
    expect(detectVirtualDiskFormat(Buffer.from('KDMV', 'latin1'))).toBe('vmdk (sparse)');
    expect(detectVirtualDiskFormat(Buffer.alloc(512))).toBeUndefined();
  });
  it('parses blkid and sfdisk output', () => {
    expect(parseBlkidExport('DEVNAME=x\nTYPE=ext4\nUUID=1-2\n')).toMatchObject({ TYPE: 'ext4', UUID: '1-2' });
    const p = parseSfdiskJson(JSON.stringify({ partitiontable: { sectorsize: 512, partitions: [{ node: 'd.img1', start: 2048, size: 100, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' }, { node: 'd.img12', start: 4096, size: 8, type: '83' }] } }));
    expect(p).toEqual([
      { number: 1, start: 1048576, size: 51200, type: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b' },
      { number: 12, start: 2097152, size: 4096, type: '83' },
    ]);
  });
});
