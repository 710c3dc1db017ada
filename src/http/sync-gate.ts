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
 * in ru_inblock; a preempted one does not. The count is compared only after a slow call
 * (a getrusage costs µs), so block reads by other work just before (a cold TFTP file in
 * the thread pool) close the gate too: when unsure, go async. tmpfs never counts block
 * reads, and never hits a disk either.
 *
 * Attribution: the block count is refreshed at the start of a call when it is older than
 * `baselineMs`, so a slow call is blamed only on block reads of the last ~100 ms (this
 * machine's page cache loses a few pages of a hot file now and then; those re-reads used
 * to be blamed on the next preempted call, seconds later).
 *
 * Cool-off: `coolOffMs` (200 ms) after an isolated disk read, doubling up to `maxCoolOffMs`
 * while disk reads keep coming right after each cool-off (a cold file being read), back
 * to the minimum once they stop. A cold file then stalls the loop for one read at most
 * every few seconds, while a stray evicted page costs 200 ms of thread-pool round trips,
 * not 10 s.
 */
export class SyncGate {
  private offUntil = -Infinity;
  private coolOff: number;
  /** ru_inblock at `blocksAt` (refreshed lazily: at start-up modules are read from disk). */
  private blocksSeen?: number;
  private blocksAt = 0;

  constructor(
    readonly slowMs = 2,
    readonly coolOffMs = 200,
    private readonly now: () => number = () => performance.now(),
    /** Blocks the process has read from devices so far (getrusage ru_inblock). */
    private readonly blockReads: () => number = () => process.resourceUsage().fsRead,
    readonly maxCoolOffMs = 10_000,
    readonly baselineMs = 100,
  ) {
    this.coolOff = coolOffMs;
  }

  /** May the next small operation run synchronously? */
  allowed(): boolean {
    return this.now() >= this.offUntil;
  }

  /** Runs `fn` synchronously and times it; a slow call that hit the disk closes the gate for a while. */
  run<T>(fn: () => T): T {
    const t0 = this.now();
    if (this.blocksSeen === undefined || t0 - this.blocksAt > this.baselineMs) {
      this.blocksSeen = this.blockReads();
      this.blocksAt = t0;
    }
    try {
      return fn();
    } finally {
      const t1 = this.now();
      if (t1 - t0 > this.slowMs) {
        const blocks = this.blockReads();
        if (blocks !== this.blocksSeen) this.close(t1);
        this.blocksSeen = blocks;
        this.blocksAt = t1;
      }
    }
  }

  private close(t: number): void {
    // Another disk read soon after the last cool-off ended: the file is still cold, wait longer.
    this.coolOff = t - this.offUntil < 2 * this.coolOff ? Math.min(2 * this.coolOff, this.maxCoolOffMs) : this.coolOffMs;
    this.offUntil = t + this.coolOff;
  }
}

/** The process-wide gate shared by the HTTP file path. */
export const fsSyncGate = new SyncGate();

/** Reads at most this many bytes in one synchronous call (one response of a small range). */
export const SYNC_READ_MAX = 256 * 1024;
