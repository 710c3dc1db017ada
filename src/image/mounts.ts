/**
 * Every mount and loop device the build module makes is recorded here and released in
 * reverse order, whatever happens: normal end, error, Ctrl-C/SIGTERM (the caller's
 * finally), or, as a last resort, a synchronous release from process 'exit' when the
 * caller never got to its finally (an uncaught exception on another path).
 */
import { execFileSync } from 'node:child_process';
import { rmdir } from 'node:fs/promises';
import { execa } from 'execa';
import type { Logger } from '../log.js';
import { ImageError } from './errors.js';

type Entry = { kind: 'mount'; target: string } | { kind: 'loop'; device: string } | { kind: 'dir'; path: string };

const live = new Set<MountStack>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) s.releaseAllSync();
  });
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

export class MountStack {
  private readonly entries: Entry[] = [];

  constructor(private readonly log?: Logger) {
    installExitHook();
  }

  /** `mount ARGS... TARGET`, recorded for release. */
  async mount(args: string[], target: string): Promise<void> {
    this.log?.debug({ cmd: ['mount', ...args, target] }, 'mount');
    const r = await execa('mount', [...args, target], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new ImageError(`mount ${[...args, target].join(' ')} failed: ${tail(r.stderr || r.stdout)}`);
    this.push({ kind: 'mount', target });
  }

  /** A read-only loop device on FILE (optionally a byte range of it); returns /dev/loopN. */
  async loop(file: string, range?: { offset: number; size: number }): Promise<string> {
    const args = ['--read-only', '--find', '--show'];
    if (range) args.push('--offset', String(range.offset), '--sizelimit', String(range.size));
    args.push(file);
    this.log?.debug({ cmd: ['losetup', ...args] }, 'losetup');
    const r = await execa('losetup', args, { reject: false, stdin: 'ignore' });
    const dev = r.stdout.trim();
    if (r.exitCode !== 0 || !dev.startsWith('/dev/')) throw new ImageError(`losetup ${args.join(' ')} failed: ${tail(r.stderr || r.stdout)}`);
    this.push({ kind: 'loop', device: dev });
    return dev;
  }

  /** A directory we created, removed (if empty) when released. */
  dir(path: string): void {
    this.push({ kind: 'dir', path });
  }

  get size(): number {
    return this.entries.length;
  }

  private push(e: Entry): void {
    this.entries.push(e);
    live.add(this);
  }

  /** Release everything, newest first. Errors are collected, never thrown half-way. */
  async releaseAll(): Promise<void> {
    const errors: string[] = [];
    while (this.entries.length > 0) {
      const e = this.entries.pop()!;
      try {
        await this.release(e);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    live.delete(this);
    if (errors.length) throw new ImageError(`cleanup incomplete: ${errors.join('; ')}`);
  }

  private async release(e: Entry): Promise<void> {
    if (e.kind === 'mount') {
      // A busy mount (e.g. a child still exiting) gets a few retries before a lazy umount,
      // which detaches it now and frees it when the last user goes.
      for (let i = 0; i < 10; i++) {
        const r = await execa('umount', [e.target], { reject: false, stdin: 'ignore' });
        if (r.exitCode === 0) return;
        if (!/busy/i.test(r.stderr)) {
          if (/not mounted/i.test(r.stderr)) return;
          break;
        }
        await new Promise((res) => setTimeout(res, 100));
      }
      const r = await execa('umount', ['--lazy', e.target], { reject: false, stdin: 'ignore' });
      if (r.exitCode !== 0) throw new ImageError(`umount ${e.target}: ${tail(r.stderr)}`);
      this.log?.warn({ target: e.target }, 'mount was busy; detached lazily');
    } else if (e.kind === 'loop') {
      const r = await execa('losetup', ['--detach', e.device], { reject: false, stdin: 'ignore' });
      if (r.exitCode !== 0 && !/No such device/i.test(r.stderr)) throw new ImageError(`losetup -d ${e.device}: ${tail(r.stderr)}`);
    } else {
      // rmdir, never rm -r: should a mount below have survived, a recursive delete could
      // reach into it.
      await rmdir(e.path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }

  /** Synchronous best effort for process 'exit' (no event loop left). */
  releaseAllSync(): void {
    while (this.entries.length > 0) {
      const e = this.entries.pop()!;
      try {
        if (e.kind === 'mount') execFileSync('umount', ['--lazy', e.target], { stdio: 'ignore' });
        else if (e.kind === 'loop') execFileSync('losetup', ['--detach', e.device], { stdio: 'ignore' });
        else execFileSync('rmdir', [e.path], { stdio: 'ignore' });
      } catch {
        /* nothing more can be done at exit */
      }
    }
    live.delete(this);
  }
}
