/**
 * Decides when a small file operation may run synchronously on the event loop.
 *
 * Every async fs call is a thread-pool round trip: the main thread wakes a worker, the
 * worker wakes the main thread. With the file in the page cache the call itself takes a
 * few µs, the two wake-ups far longer, and on a busy 2-vCPU server each wake-up waits for
 * a CPU (measured with bench/http.mjs: 500 sequential 128 KiB ranges ran ~1.5× faster with
 * sync open+read). nginx blocks on disk the same way. The risk is a cold disk: one read
 * that has to seek would stall DHCP and TFTP too. So the gate times every sync call, and
 * one that takes longer than `slowMs` *and* made the process read blocks from a device
 * (getrusage's ru_inblock went up) turns sync off for `coolOffMs`; big reads always go
 * async (they are pipelined with the socket anyway).
 *
 * Why the block count: on a loaded machine a page-cache read is often slow only because
 * the thread was preempted mid-call. Closing the gate then (as a plain timer did) sent
 * every read through the thread pool for 10 s, i.e. most of the time under load, which is
 * exactly when the round trips cost most. A read that waited for the disk always shows up
 * in ru_inblock; a preempted one does not. The count is read only after a slow call (it
 * costs a getrusage), against the value seen at the previous slow call (or the first
 * call: module loading at start-up reads blocks too), so block reads by other work in
 * between (a cold TFTP file in the thread pool) close the gate too: when unsure, go async.
 * tmpfs never counts block reads, and never hits a disk either.
 *
 * The cool-off is 2 s: a cold file read sequentially then stalls the loop for one disk
 * read at most every 2 s (well under 1% of the time), while pages evicted now and then
 * (this machine's page cache shrinks under other work) no longer cost 10 s of thread-pool
 * round trips each.
 */
export class SyncGate {
  private offUntil = 0;
  /** ru_inblock at the first call or the last slow one (not at construction: start-up reads modules). */
  private blocksSeen?: number;

  constructor(
    readonly slowMs = 2,
    readonly coolOffMs = 2_000,
    private readonly now: () => number = () => performance.now(),
    /** Blocks the process has read from devices so far (getrusage ru_inblock). */
    private readonly blockReads: () => number = () => process.resourceUsage().fsRead,
  ) {}

  /** May the next small operation run synchronously? */
  allowed(): boolean {
    return this.now() >= this.offUntil;
  }

  /** Runs `fn` synchronously and times it; a slow call that hit the disk closes the gate for a while. */
  run<T>(fn: () => T): T {
    this.blocksSeen ??= this.blockReads();
    const t0 = this.now();
    try {
      return fn();
    } finally {
      const t1 = this.now();
      if (t1 - t0 > this.slowMs) {
        const blocks = this.blockReads();
        if (blocks !== this.blocksSeen) this.offUntil = t1 + this.coolOffMs;
        this.blocksSeen = blocks;
      }
    }
  }
}

/** The process-wide gate shared by the HTTP file path. */
export const fsSyncGate = new SyncGate();

/** Reads at most this many bytes in one synchronous call (one response of a small range). */
export const SYNC_READ_MAX = 256 * 1024;
