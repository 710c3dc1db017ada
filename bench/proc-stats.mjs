/**
 * Server-side cost figures for benchmarks, read from /proc: CPU seconds and peak RSS of a
 * process and of its direct children (nginx's workers), so a peer that forks or runs worker
 * processes is counted whole.
 */
import { readFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux

/** utime + stime of one process, in seconds (0 when it is gone). */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** VmHWM (peak resident set) of one process, in MiB (0 when it is gone). */
export function peakRssMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process (every thread's list). */
export function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The process and its direct children: CPU seconds summed, peak RSS summed over them. */
export function treeStats(pid) {
  const pids = [pid, ...childPids(pid)];
  return {
    pids,
    cpu: pids.reduce((s, p) => s + cpuSeconds(p), 0),
    rssMiB: pids.reduce((s, p) => s + peakRssMiB(p), 0),
  };
}
