/**
 * Where transfers run: in the server's own thread, or spread over worker threads.
 *
 * TFTP lock-step costs a syscall pair and a trip through the event loop per block, so one
 * thread saturates long before the NIC does when many clients boot at once. Worker threads
 * (each with its own event loop and sockets) let transfers use every core, and keep the main
 * thread (proxyDHCP, HTTP) responsive during a boot storm. The main thread still receives
 * requests, checks paths and opens files; a worker gets the open descriptor (descriptors are
 * process-wide) and the negotiated parameters, and reports the summary back.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { close } from 'node:fs';
import { NetasciiSource, OctetSource, type CloseFd } from './block-source.js';
import { Transfer, type TransferParams, type TransferSummary } from './transfer.js';

/**
 * Everything a transfer needs, in a form that can be posted to a worker: the Transfer's
 * parameters with the block source replaced by the open fd and its mode.
 */
export interface TransferSpec extends Omit<TransferParams, 'source' | 'syncReads' | 'onEnd'> {
  fd: number;
  netascii: boolean;
  /** Retransmission timer granularity. */
  tickMs: number;
}

export type EndHandler = (id: number, summary: TransferSummary) => void;

export interface TransferHost {
  start(id: number, spec: TransferSpec): void;
  abort(id: number, message: string, tellClient: boolean): void;
  close(): Promise<void>;
}

/** Runs transfers in the calling thread; one ticker drives all retransmission timers. */
export class InProcessHost implements TransferHost {
  private readonly transfers = new Map<number, Transfer>();
  private ticker: NodeJS.Timeout | undefined;

  constructor(
    private readonly onEnd: EndHandler,
    private readonly closeFd?: CloseFd,
    /** Blocking reads: only where blocking delays nothing but transfers (worker threads). */
    private readonly syncReads = false,
  ) {}

  start(id: number, spec: TransferSpec): void {
    const t = new Transfer({
      ...spec,
      source: spec.netascii ? new NetasciiSource(spec.fd, this.closeFd) : new OctetSource(spec.fd, this.closeFd),
      syncReads: this.syncReads,
      onEnd: (_t, s) => {
        this.transfers.delete(id);
        this.onEnd(id, s);
      },
    });
    this.transfers.set(id, t);
    if (!this.ticker) {
      // Timers run before the poll phase: after an event-loop stall, ticking right here would
      // re-send the window of every transfer whose ACK is already waiting in its socket, and
      // those spurious bursts feed the next stall. setImmediate runs after the poll phase has
      // read the pending ACKs (which re-arm the deadlines), so only transfers that really lost
      // a packet retransmit.
      this.ticker = setInterval(() => {
        setImmediate(() => {
          const now = Date.now();
          for (const tr of this.transfers.values()) tr.tick(now);
        });
      }, spec.tickMs);
      this.ticker.unref();
    }
    t.start();
  }

  abort(id: number, message: string, tellClient: boolean): void {
    this.transfers.get(id)?.abort(message, tellClient);
  }

  async close(): Promise<void> {
    clearInterval(this.ticker);
    this.ticker = undefined;
  }
}

export type WorkerRequest =
  | { type: 'start'; id: number; spec: TransferSpec }
  | { type: 'abort'; id: number; message: string; tellClient: boolean };
/**
 * 'close': the worker is done with a descriptor; the server thread, which opened it, closes it
 * (Node warns when a worker closes a descriptor it did not open).
 */
export type WorkerReply = { type: 'end'; id: number; summary: TransferSummary } | { type: 'close'; fd: number };

/** The compiled worker script, when running from dist/ (not from TypeScript sources). */
function workerScript(): URL | undefined {
  const url = new URL('./transfer-worker.js', import.meta.url);
  return url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : undefined;
}

export function workersAvailable(): boolean {
  return workerScript() !== undefined;
}

interface WorkerSlot {
  worker: Worker;
  /** Transfers running on it: id -> what is needed to report them if the worker dies. */
  running: Map<number, { spec: TransferSpec; started: number }>;
}

/**
 * Spreads transfers over worker threads, each new transfer to the least busy worker. A worker
 * that dies (a bug, not traffic) has its transfers reported as errors and is replaced.
 */
export class WorkerPoolHost implements TransferHost {
  private readonly slots: WorkerSlot[] = [];
  private readonly owner = new Map<number, WorkerSlot>();
  private closing = false;
  private readonly script: URL;

  constructor(
    count: number,
    private readonly onEnd: EndHandler,
    private readonly onError: (err: Error) => void,
  ) {
    const script = workerScript();
    if (!script) throw new Error('TFTP worker script not found (run from the compiled dist/)');
    this.script = script;
    for (let i = 0; i < count; i++) this.slots.push(this.spawn());
  }

  private spawn(): WorkerSlot {
    const worker = new Worker(this.script);
    const slot: WorkerSlot = { worker, running: new Map() };
    worker.on('message', (m: WorkerReply) => {
      if (m.type === 'close') return close(m.fd, () => {});
      slot.running.delete(m.id);
      this.owner.delete(m.id);
      this.onEnd(m.id, m.summary);
    });
    worker.on('error', (err) => this.onError(err));
    worker.on('exit', () => {
      if (this.closing) return;
      for (const [id, r] of slot.running) {
        this.owner.delete(id);
        close(r.spec.fd, () => {});
        this.onEnd(id, {
          client: `${r.spec.client.address}:${r.spec.client.port}`,
          file: r.spec.file,
          bytes: 0,
          blksize: r.spec.blksize,
          windowsize: r.spec.windowsize,
          durationMs: Date.now() - r.started,
          retransmits: 0,
          bytesSent: 0,
          outcome: 'error',
          reason: 'transfer worker exited',
        });
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
    });
    worker.unref();
    return slot;
  }

  start(id: number, spec: TransferSpec): void {
    let best = this.slots[0]!;
    for (const w of this.slots) if (w.running.size < best.running.size) best = w;
    best.running.set(id, { spec, started: Date.now() });
    this.owner.set(id, best);
    best.worker.postMessage({ type: 'start', id, spec } satisfies WorkerRequest);
  }

  abort(id: number, message: string, tellClient: boolean): void {
    this.owner.get(id)?.worker.postMessage({ type: 'abort', id, message, tellClient } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((w) => w.worker.terminate()));
  }
}
