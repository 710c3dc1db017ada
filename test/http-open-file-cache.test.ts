/**
 * src/http/open-file-cache.ts on a real file tree: descriptors reused while the path still
 * names the same unchanged inode; replaced, rewritten, deleted and swapped-for-a-symlink
 * files are opened afresh with every openInside check; leases keep an old descriptor open
 * (old bytes) until released; LRU eviction and clear() close what no response uses.
 */
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdirSync, readdirSync, readSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenFileCache } from '../src/http/open-file-cache.js';
import { PathRefused, Root, type OpenedFile } from '../src/http/safe-path.js';
import { tempDir } from './http-helpers.js';

const { dir, cleanup } = tempDir('ltsp-fdcache-');
const rootDir = join(dir, 'tftp');
const ltsp = join(rootDir, 'ltsp');
const outside = join(dir, 'outside');
let root: Root;

afterAll(cleanup);
beforeEach(() => {
  rmSync(rootDir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
  mkdirSync(join(ltsp, 'x86_64'), { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(ltsp, 'x86_64', 'vmlinuz'), 'kernel v1');
  writeFileSync(join(ltsp, 'a'), 'A');
  writeFileSync(join(ltsp, 'b'), 'B');
  writeFileSync(join(ltsp, 'c'), 'C');
  writeFileSync(join(outside, 'secret'), 'SECRET');
  root = new Root(rootDir);
});

function read(f: OpenedFile): string {
  const b = Buffer.alloc(64);
  return b.subarray(0, readSync(f.fd, b, 0, b.length, 0)).toString();
}

const openFds = () => readdirSync('/proc/self/fd').length;

async function refusal(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PathRefused) return err.status;
    throw err;
  }
  return 200;
}

describe('OpenFileCache', () => {
  it('reuses the descriptor while the path names the same unchanged file', async () => {
    const cache = new OpenFileCache();
    const a = await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false);
    a.close();
    const b = await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false);
    expect(b.fd).toBe(a.fd);
    expect(read(b)).toBe('kernel v1');
    b.close();
    cache.clear();
  });

  it('a file replaced by rename: new requests get the new file, a lease keeps the old bytes until released', async () => {
    const cache = new OpenFileCache();
    const before = openFds();
    const old = await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false);
    writeFileSync(join(ltsp, 'x86_64', 'vmlinuz.tmp'), 'kernel v2');
    renameSync(join(ltsp, 'x86_64', 'vmlinuz.tmp'), join(ltsp, 'x86_64', 'vmlinuz'));
    const fresh = await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false);
    expect(fresh.fd).not.toBe(old.fd);
    expect(read(fresh)).toBe('kernel v2');
    expect(read(old)).toBe('kernel v1');
    expect(openFds()).toBe(before + 2);
    old.close(); // the replaced file's last user: its descriptor is closed now
    expect(openFds()).toBe(before + 1);
    fresh.close();
    cache.clear();
    expect(openFds()).toBe(before);
  });

  it('a file written in place (size/mtime/ctime) is opened afresh', async () => {
    const cache = new OpenFileCache();
    const a = await cache.open(root, ltsp, ['a'], false);
    a.close();
    appendFileSync(join(ltsp, 'a'), 'A');
    const b = await cache.open(root, ltsp, ['a'], false);
    expect(b.stat.size).toBe(2);
    b.close();
    cache.clear();
  });

  it('deleted → 404; replaced by a symlink out of the root → 403 (unless followOutside)', async () => {
    const cache = new OpenFileCache();
    (await cache.open(root, ltsp, ['a'], false)).close();
    (await cache.open(root, ltsp, ['b'], false)).close();
    rmSync(join(ltsp, 'a'));
    expect(await refusal(cache.open(root, ltsp, ['a'], false))).toBe(404);
    rmSync(join(ltsp, 'b'));
    symlinkSync(join(outside, 'secret'), join(ltsp, 'b'));
    expect(await refusal(cache.open(root, ltsp, ['b'], false))).toBe(403);
    const f = await cache.open(root, ltsp, ['b'], true);
    expect(read(f)).toBe('SECRET');
    f.close();
    cache.clear();
  });

  it('a directory moved out and symlinked back: refused once the entry is older than maxAgeMs', async () => {
    let now = 0;
    const cache = new OpenFileCache(64, 1000, () => now);
    (await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false)).close();
    renameSync(join(ltsp, 'x86_64'), join(outside, 'x86_64'));
    symlinkSync(join(outside, 'x86_64'), join(ltsp, 'x86_64'));
    // the same unchanged inode: still served from the cache for now (documented)
    const hit = await cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false);
    expect(read(hit)).toBe('kernel v1');
    hit.close();
    now += 1000;
    expect(await refusal(cache.open(root, ltsp, ['x86_64', 'vmlinuz'], false))).toBe(403);
    cache.clear();
  });

  it('keeps at most maxEntries files; eviction and clear() close descriptors nobody uses', async () => {
    const before = openFds();
    const cache = new OpenFileCache(2);
    const a = await cache.open(root, ltsp, ['a'], false);
    (await cache.open(root, ltsp, ['b'], false)).close();
    (await cache.open(root, ltsp, ['c'], false)).close(); // evicts 'a' (least recently used), still leased
    expect(cache.size).toBe(2);
    expect(openFds()).toBe(before + 3);
    expect(read(a)).toBe('A');
    a.close();
    expect(openFds()).toBe(before + 2);
    a.close(); // idempotent
    cache.clear();
    expect(openFds()).toBe(before);
    expect(cache.size).toBe(0);
  });
});
