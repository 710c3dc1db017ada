/**
 * Decides when a small file operation may run synchronously on the event loop.
 *
 * Every async fs call is a thread-pool round trip: the main thread wakes a worker, the
 * worker wakes the main thread. With the file in the page cache the call itself takes a
 * few µs, the two wake-ups far longer, and on a busy 2-vCPU server each wake-up waits for
 * a CPU (measured with bench/http.mjs: 500 sequential 128 KiB ranges ran ~1.5× faster with
 * sync open+read). nginx blocks on disk the same way. The risk is a cold disk: one read
 * that has to seek would stall DHCP and TFTP too. So the gate times every sync call, and
 * one that takes longer than `slowMs` (the disk was hit) turns sync off for `coolOffMs`;
 * big reads always go async (they are pipelined with the socket anyway).
 */
export class SyncGate {
  private offUntil = 0;

  constructor(
    readonly slowMs = 2,
    readonly coolOffMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** May the next small operation run synchronously? */
  allowed(): boolean {
    return this.now() >= this.offUntil;
  }

  /** Runs `fn` synchronously and times it; a slow call closes the gate for a while. */
  run<T>(fn: () => T): T {
    const t0 = this.now();
    try {
      return fn();
    } finally {
      const t1 = this.now();
      if (t1 - t0 > this.slowMs) this.offUntil = t1 + this.coolOffMs;
    }
  }
}

/** The process-wide gate shared by the HTTP file path. */
export const fsSyncGate = new SyncGate();

/** Reads at most this many bytes in one synchronous call (one response of a small range). */
export const SYNC_READ_MAX = 256 * 1024;
