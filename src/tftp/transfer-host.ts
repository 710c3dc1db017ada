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
import { Transfer, type TransferSummary } from './transfer.js';

/** Everything a transfer needs, in a form that can be posted to a worker. */
export interface TransferSpec {
  client: { address: string; port: number };
  localAddress: string;
  file: string;
  fd: number;
  netascii: boolean;
  blksize: number;
  windowsize: number;
  oack: Uint8Array | null;
  sizeHint: number;
  timeoutMs: number;
  retries: number;
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
      this.ticker = setInterval(() => {
        const now = Date.now();
        for (const tr of this.transfers.values()) tr.tick(now);
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

/** Spreads transfers over worker threads, each new transfer to the least busy worker. */
export class WorkerPoolHost implements TransferHost {
  private readonly workers: { worker: Worker; active: number }[] = [];
  private readonly owner = new Map<number, { worker: Worker; active: number }>();

  constructor(count: number, private readonly onEnd: EndHandler, onError: (err: Error) => void) {
    const script = workerScript();
    if (!script) throw new Error('TFTP worker script not found (run from the compiled dist/)');
    for (let i = 0; i < count; i++) {
      const worker = new Worker(script);
      const slot = { worker, active: 0 };
      worker.on('message', (m: WorkerReply) => {
        if (m.type === 'close') return close(m.fd, () => {});
        this.owner.delete(m.id);
        slot.active--;
        this.onEnd(m.id, m.summary);
      });
      worker.on('error', onError);
      worker.unref();
      this.workers.push(slot);
    }
  }

  start(id: number, spec: TransferSpec): void {
    let best = this.workers[0]!;
    for (const w of this.workers) if (w.active < best.active) best = w;
    best.active++;
    this.owner.set(id, best);
    best.worker.postMessage({ type: 'start', id, spec } satisfies WorkerRequest);
  }

  abort(id: number, message: string, tellClient: boolean): void {
    this.owner.get(id)?.worker.postMessage({ type: 'abort', id, message, tellClient } satisfies WorkerRequest);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
