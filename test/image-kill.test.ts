/**
 * Interrupted builds, through the real CLI: mksquashfs killed with SIGKILL half-way, and
 * ltsp-ts itself stopped with SIGINT and SIGTERM. Each time the previous image must be
 * byte-identical, no .tmp and no lock may be left, and every mount and loop device made
 * for the build must be gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have, isRoot, makeRoot, ourMounts } from './image-fixtures.js';

const ready = isRoot && have('mksquashfs') && existsSync('/bin/busybox') && existsSync('dist/src/cli/main.js');
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Children of a pid (from /proc/<pid>/task/<pid>/children). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

async function until<T>(what: string, f: () => T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((res) => p.once('exit', (code, signal) => res({ code, signal })));
}

describe.skipIf(!ready)('ltsp-ts image: interrupted builds leave nothing behind', () => {
  let dir: string;
  let base: string;
  let img: string;
  let good: string;

  const run = (): { p: ChildProcess; stderr: () => string } => {
    // -processors 1 and incompressible data: mksquashfs runs for seconds, long enough to interrupt.
    const p = spawn(process.execPath, ['bin/ltsp-ts.js', 'image', '--base-dir', base, '--tftp-dir', join(dir, 'tftp'), '-i', '', '-m', '-comp gzip -processors 1', 'chr'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.stdout!.resume();
    return { p, stderr: () => err };
  };

  const mksquashfsOf = (pid: number) => until('mksquashfs to start', () => children(pid).find((c) => comm(c) === 'mksquashfs'));
  const tmpGrowing = () => until('the .tmp image to grow', () => (existsSync(`${img}.tmp`) && statSync(`${img}.tmp`).size > 1 << 20) || undefined);

  function assertClean(): void {
    expect(sha(img)).toBe(good);
    expect(existsSync(`${img}.tmp`)).toBe(false);
    expect(readdirSync(join(base, 'images')).filter((f) => f.endsWith('.lock'))).toEqual([]);
    expect(ourMounts(dir)).toEqual([]);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('ltsp-ts-image-'))).toEqual([]);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'im-kill-'));
    base = join(dir, 'base');
    mkdirSync(base);
    makeRoot(join(base, 'chr'));
    // A first, good image from the small tree...
    const { p } = run();
    const r = await exited(p);
    expect(r.code).toBe(0);
    img = join(base, 'images/chr.img');
    good = sha(img);
    // ...then the tree grows so the next build takes a while.
    rmSync(join(base, 'chr'), { recursive: true });
    makeRoot(join(base, 'chr'), { dataBytes: 96 << 20 });
  }, 120_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL of mksquashfs mid-build: error exit, old image intact, nothing left', async () => {
    const { p, stderr } = run();
    const done = exited(p);
    const mk = await mksquashfsOf(p.pid!);
    await tmpGrowing();
    process.kill(mk, 'SIGKILL');
    const r = await done;
    expect(r.code).not.toBe(0);
    expect(stderr()).toMatch(/mksquashfs failed \(killed by SIGKILL\)/);
    assertClean();
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} to ltsp-ts mid-build: exit ${sig === 'SIGINT' ? 130 : 143}, mksquashfs stopped, old image intact, nothing left`, async () => {
      const { p, stderr } = run();
      const done = exited(p);
      const mk = await mksquashfsOf(p.pid!);
      await tmpGrowing();
      p.kill(sig);
      const r = await done;
      expect(r.code).toBe(sig === 'SIGINT' ? 130 : 143);
      expect(stderr()).toMatch(new RegExp(`interrupted by ${sig}`));
      expect(existsSync(`/proc/${mk}`) && comm(mk) === 'mksquashfs').toBe(false);
      assertClean();
    });
  }
});
