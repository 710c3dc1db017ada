/**
 * The mksquashfs call of `ltsp image` (65-mksquashfs.sh), exactly:
 *
 *   $IONICE mksquashfs ROOT BASE_DIR/images/NAME.img.tmp -noappend -wildcards -ef EXCLUDES $MKSQUASHFS_PARAMS
 *
 * IONICE unset = `nice ionice -c3` (each only if present, ionice only if `ionice -c3 true`
 * works), "" = nothing; it and MKSQUASHFS_PARAMS are word-split like the unquoted shell
 * variables. mksquashfs prints its own progress bar (`[====/   ] 123/456  27%`, redrawn
 * with \r) even into a pipe; we parse it and report it as our bar on a TTY or as periodic
 * log lines otherwise.
 */
import { execa, ExecaError } from 'execa';
import type { Logger } from '../log.js';
import { ImageError } from './errors.js';
import { findTool, requireTool } from './tools.js';

export interface Progress {
  done: number;
  total: number;
  percent: number;
}

/** The last progress figure in a chunk of mksquashfs output, if any. Pure. */
export function parseProgress(chunk: string): Progress | undefined {
  let last: Progress | undefined;
  for (const m of chunk.matchAll(/(\d+)\/(\d+)\s+(\d+)%/g)) last = { done: Number(m[1]), total: Number(m[2]), percent: Number(m[3]) };
  return last;
}

/** Shell-like word split of an unquoted variable ($IONICE, $MKSQUASHFS_PARAMS). Pure. */
export function wordSplit(v: string | undefined): string[] {
  return (v ?? '').split(/\s+/).filter(Boolean);
}

/** The ionice prefix: undefined → LTSP's default detection; '' → none; else word-split. */
export async function ionicePrefix(ionice: string | undefined): Promise<string[]> {
  if (ionice !== undefined) return wordSplit(ionice);
  const prefix: string[] = [];
  if (await findTool('nice')) prefix.push('nice');
  const io = await findTool('ionice');
  if (io && (await execa(io, ['-c3', 'true'], { reject: false, stdin: 'ignore' })).exitCode === 0) prefix.push('ionice', '-c3');
  return prefix;
}

/** The full argv (prefix + mksquashfs + args). Pure. */
export function mksquashfsArgv(prefix: string[], root: string, output: string, excludes: string, params: string[]): string[] {
  return [...prefix, 'mksquashfs', root, output, '-noappend', '-wildcards', '-ef', excludes, ...params];
}

export interface SquashRun {
  argv: string[];
  signal?: AbortSignal;
  log?: Logger;
  /** 'tty': a redrawn bar on stderr; 'log': a log line every `logEveryMs`; 'none'. */
  progress: 'tty' | 'log' | 'none';
  logEveryMs?: number;
  label: string;
  /** Called with the child's pid once started (tests, signal forwarding). */
  onSpawn?: (pid: number) => void;
}

function bar(p: Progress, label: string, started: number): string {
  const width = 30;
  const filled = Math.round((p.percent / 100) * width);
  const secs = Math.round((Date.now() - started) / 1000);
  return `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.percent).padStart(3)}% ${p.done}/${p.total} ${secs}s`;
}

export async function runMksquashfs(run: SquashRun): Promise<void> {
  await requireTool('mksquashfs');
  const [cmd, ...args] = run.argv;
  const started = Date.now();
  let lastLog = 0;
  let lastShown: Progress | undefined;
  const other: string[] = [];
  run.log?.info({ cmd: run.argv.join(' ') }, 'running mksquashfs');
  const child = execa(cmd!, args, {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    cancelSignal: run.signal,
    forceKillAfterDelay: 3000,
    reject: true,
  });
  if (child.pid !== undefined) run.onSpawn?.(child.pid);
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const p = parseProgress(chunk);
    const text = chunk.replace(/\r?\[[^\]\n]*\][^\n\r]*%/g, '').trim();
    if (text) other.push(text);
    if (!p) return;
    lastShown = p;
    if (run.progress === 'tty') process.stderr.write(bar(p, run.label, started));
    else if (run.progress === 'log' && (Date.now() - lastLog >= (run.logEveryMs ?? 5000) || p.percent === 100)) {
      lastLog = Date.now();
      run.log?.info({ percent: p.percent, done: p.done, total: p.total, seconds: Math.round((Date.now() - started) / 1000) }, 'mksquashfs progress');
    }
  });
  try {
    await child;
  } catch (err) {
    if (run.progress === 'tty' && lastShown) process.stderr.write('\n');
    if (run.signal?.aborted) throw run.signal.reason instanceof Error ? run.signal.reason : new ImageError('mksquashfs cancelled');
    const e = err as ExecaError;
    const why = e.signal ? `killed by ${e.signal}` : `exit code ${e.exitCode}`;
    const detail = String(e.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    throw new ImageError(`mksquashfs failed (${why})${detail ? `: ${detail}` : ''}`);
  }
  if (run.progress === 'tty' && lastShown) process.stderr.write('\n');
  run.log?.debug({ output: other.join('\n') }, 'mksquashfs summary');
}
