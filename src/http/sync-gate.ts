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
 * exactly when the round trips cost most. A read that waited for the disk shows up in
 * ru_inblock; a preempted one does not. The count is taken around each call (before it
 * from a sample at most 1 ms old), so a slow call is blamed only for block reads made
 * during it or just before: on this machine a
 * hot file loses page-cache pages all the time (the 1 GiB bench file re-read ~6 MB/s from
 * disk under 128 KiB random ranges), and with a looser attribution (block reads of the
 * last 100 ms) preempted calls were blamed for them and the gate was closed most of the
 * time. Block reads by other threads during the call (a cold TFTP file in the thread pool)
 * still count: when unsure, go async. tmpfs never counts block reads, and never hits a
 * disk either.
 *
 * Slow means over `slowMs` = 10 ms: a stall firmware never notices (DHCP and TFTP clients
 * wait a second or more), well above what a page-cache miss costs on this VM's disk
 * (0.2-1 ms, p99 0.8 ms, measured at low load; under load preemption on top made some
 * exceed 2 ms and close the gate), and within what a seek on a spinning disk costs, where
 * the gate matters.
 *
 * Cool-off: `coolOffMs` (200 ms) after an isolated slow disk read, doubling up to
 * `maxCoolOffMs` while slow disk reads keep coming right after each cool-off (a cold file
 * being read), back to the minimum once they stop. A cold file then stalls the loop for
 * one read at most every few seconds, while a stray evicted page costs 200 ms of
 * thread-pool round trips, not 10 s.
 */
/** How old the block-count sample taken before a call may be (ms), see `run`. */
const SAMPLE_MS = 1;

export class SyncGate {
  private offUntil = -Infinity;
  private coolOff: number;

  constructor(
    readonly slowMs = 10,
    readonly coolOffMs = 200,
    private readonly now: () => number = () => performance.now(),
    /** Blocks the process has read from devices so far (getrusage ru_inblock). */
    private readonly blockReads: () => number = () => process.resourceUsage().fsRead,
    readonly maxCoolOffMs = 10_000,
  ) {
    this.coolOff = coolOffMs;
  }

  /** May the next small operation run synchronously? */
  allowed(): boolean {
    return this.now() >= this.offUntil;
  }

  /** Runs `fn` synchronously and times it; a slow call that read from the disk closes the gate for a while. */
  run<T>(fn: () => T): T {
    const t0 = this.now();
    // The count before the call, from a sample at most SAMPLE_MS old: process.resourceUsage()
    // costs ~1 µs in a hot loop and ~2.5 µs per call in the server's CPU profile (it builds a
    // 16-field object), and a file request makes two gated calls
    // (stat, pread) — with a sample per call that was ~10 µs of a ~250 µs 128 KiB range. A
    // slow call lasts over slowMs (10 ms), so the extra ≤1 ms before it hardly widens the blame.
    if (t0 - this.sampledAt > SAMPLE_MS) {
      this.blocksAt = this.blockReads();
      this.sampledAt = t0;
    }
    try {
      return fn();
    } finally {
      const t1 = this.now();
      if (t1 - t0 > this.slowMs) {
        const blocks = this.blockReads();
        if (blocks !== this.blocksAt) this.close(t1);
        this.blocksAt = blocks;
        this.sampledAt = t1;
      }
    }
  }

  private blocksAt = 0;
  private sampledAt = -Infinity;

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
