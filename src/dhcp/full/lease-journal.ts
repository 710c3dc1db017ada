/**
 * Durable lease store: an append-only journal of LeaseRecords, one JSON object per line,
 * with group commit and compaction.
 *
 * Crash safety (what `kill -9` or a power cut may leave, and why no acknowledged lease is
 * lost and no address is acknowledged twice):
 *  - append(records) resolves only once the batch is written and on the disk: the file is
 *    opened O_DSYNC, so each write() returns after the data (and the size) are durable, as
 *    write() + fdatasync() would, in one system call. The DHCP service sends the DHCPACK
 *    after that. The table in memory is changed before the write,
 *    so no other client can be given the address while the write is in flight.
 *  - Records arriving while a batch is being written wait for the next batch: one fsync
 *    serves every ACK decided in the meantime (group commit), which is how the service
 *    keeps up with a boot storm.
 *  - A torn last line (a crash in the middle of write(), or garbage after a power cut)
 *    cannot belong to an acknowledged lease, because its fsync never returned. open()
 *    drops it and truncates the file back to the last whole line before appending, so a
 *    later append never glues onto garbage.
 *  - A write that fails or comes up short (ENOSPC, EIO) rejects its batch (no ACK goes out)
 *    and the file is truncated back to its last whole line; if even that fails, the journal
 *    takes no more records.
 *  - Compaction writes the table's snapshot to `<file>.tmp`, fsyncs it, renames it over
 *    the journal and fsyncs the directory: a crash leaves either the old journal or the
 *    new one, both complete. Records that are both in the snapshot and still queued are
 *    written twice; applying a record twice gives the same table.
 *
 * Latency: a batch is committed on the event-loop thread (writeSync) while the disk answers
 * fast — a few hundred µs on an SSD, less than a hand-off to libuv's thread pool costs on a
 * busy 2-CPU box, where each hand-off may wait a scheduler slice (bench/dhcp-full.mjs paced
 * p99: 10.4 ms with two hand-offs, 5.0 ms on the loop). When the disk is slow (a spinning
 * one, a saturated one: the median of the last loop commits above SLOW_COMMIT_MS), commits
 * go to the thread pool so the loop (HTTP, the other DHCP packets) does not wait on the
 * disk; every PROBE_EVERY-th batch is still committed on the loop to see when the disk is
 * fast again. A median, not the last commit: an SSD's fdatasync has a tail (p99 3-5 ms at
 * p50 0.4 ms here) and one slow commit used to send the next 50 to the pool, where most
 * commits of a paced run then went.
 */
import { constants as fsc, writeSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { LeaseRecord } from './lease-table.js';

export interface JournalLoad {
  records: LeaseRecord[];
  /** Lines that could not be read (file:line: why); a torn last line is reported here too. */
  problems: string[];
}

export interface LeaseJournalOptions {
  /** Rewrite the journal once it has this many more lines than the last snapshot (default 10000). */
  compactAfter?: number;
  /** What a compaction writes: the current table (LeaseTable.snapshot). */
  snapshot: () => LeaseRecord[];
  /**
   * Where batches are committed: 'auto' (default: the loop thread while the disk is fast,
   * see the header), or always 'loop' / always 'pool' (tests, or a disk known to be slow).
   */
  commitOn?: 'auto' | 'loop' | 'pool';
  /** Called after a failed write/fsync (the batch's promises reject too). */
  onError?: (e: Error) => void;
}

function isRecord(v: unknown): v is LeaseRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const ip = typeof r.ip === 'string' && /^\d{1,3}(\.\d{1,3}){3}$/.test(r.ip);
  if (r.op === 'bind') return ip && typeof r.client === 'string' && typeof r.mac === 'string' && typeof r.expires === 'number' && (r.hostname === undefined || typeof r.hostname === 'string');
  if (r.op === 'free') return ip && typeof r.client === 'string';
  if (r.op === 'bad') return ip && typeof r.until === 'number';
  return false;
}

/** Parses journal text. Returns the records and the byte length of the whole-line prefix. */
export function parseJournal(text: string, file = 'journal'): JournalLoad & { goodBytes: number } {
  const records: LeaseRecord[] = [];
  const problems: string[] = [];
  let pos = 0;
  let goodBytes = 0;
  let line = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    line++;
    if (nl < 0) {
      problems.push(`${file}:${line}: incomplete last line (${text.length - pos} bytes, a write cut short by a crash): dropped`);
      break;
    }
    const raw = text.slice(pos, nl);
    pos = nl + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (isRecord(parsed)) records.push(parsed);
    else if (raw.trim() !== '') problems.push(`${file}:${line}: not a lease record: ignored`);
    goodBytes = Buffer.byteLength(text.slice(0, pos));
  }
  return { records, problems, goodBytes };
}

const encodeRecords = (records: readonly LeaseRecord[]) => records.map((r) => JSON.stringify(r) + '\n').join('');

async function fsyncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Loop commits slower than this (median of the last RECENT) send the next ones to the thread pool. */
const SLOW_COMMIT_MS = 4;
const RECENT = 9;
/** While committing in the pool, one batch in this many is committed on the loop (to measure the disk). */
const PROBE_EVERY = 16;
/** Append + O_DSYNC: every write() is durable when it returns (see the header). */
const JOURNAL_FLAGS = fsc.O_APPEND | fsc.O_CREAT | fsc.O_DSYNC;

interface Pending {
  records: readonly LeaseRecord[];
  resolve: () => void;
  reject: (e: Error) => void;
}

export class LeaseJournal {
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private linesSinceSnapshot = 0;
  private closed = false;
  /** Set when a failed write could not be undone: no more appends (so no more ACKs). */
  private broken: Error | undefined;
  /** Durations (ms) of the last RECENT loop commits, oldest first. */
  private recent: number[] = [];
  /** Commits in the pool since the last loop probe. */
  private sinceProbe = 0;
  /** Batches committed on the loop thread and in the thread pool so far. */
  readonly commits = { loop: 0, pool: 0 };

  private constructor(
    readonly file: string,
    private fh: FileHandle,
    private readonly opts: LeaseJournalOptions,
    initialLines: number,
    /** Bytes of whole, durable lines in the file. */
    private size: number,
  ) {
    this.linesSinceSnapshot = initialLines;
  }

  /**
   * Reads the journal (missing = empty), cuts a torn tail, and opens it for appending.
   * `load` receives the records before any append can happen (rebuild the table there).
   */
  static async open(file: string, opts: LeaseJournalOptions, load: (l: JournalLoad) => void): Promise<LeaseJournal> {
    await mkdir(path.dirname(file), { recursive: true });
    const fh = await open(file, fsc.O_RDWR | JOURNAL_FLAGS, 0o644);
    try {
      const text = (await fh.readFile()).toString('utf8');
      const parsed = parseJournal(text, file);
      if (parsed.goodBytes < Buffer.byteLength(text)) {
        await fh.truncate(parsed.goodBytes);
        await fh.sync();
      }
      load({ records: parsed.records, problems: parsed.problems });
      return new LeaseJournal(file, fh, opts, parsed.records.length, parsed.goodBytes);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Resolves once the records are on disk (written and fdatasync'ed). */
  append(records: readonly LeaseRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('lease journal is closed'));
    if (this.broken) return Promise.reject(this.broken);
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ records, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      // Let the rest of this event-loop turn queue its records into the same batch.
      await new Promise<void>((r) => setImmediate(r));
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          if (this.broken) throw this.broken;
          const text = Buffer.from(batch.map((p) => encodeRecords(p.records)).join(''));
          await this.commit(text);
          this.size += text.length;
          this.linesSinceSnapshot += batch.reduce((n, p) => n + p.records.length, 0);
          for (const p of batch) p.resolve();
        } catch (e) {
          const err = e as Error;
          // A write cut short (ENOSPC, EIO) would glue the next record onto its torn line:
          // cut the file back to its last whole line, or stop taking records.
          await this.fh.truncate(this.size).catch((t: Error) => {
            this.broken ??= new Error(`lease journal unusable after a failed write (${err.message}; truncate: ${t.message})`);
          });
          for (const p of batch) p.reject(err);
          this.opts.onError?.(err);
        }
        if (this.linesSinceSnapshot > (this.opts.compactAfter ?? 10_000)) {
          try {
            await this.compactNow();
          } catch (e) {
            this.opts.onError?.(e as Error);
          }
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /** The durable write (O_DSYNC) of one batch, on the loop thread or in the pool (see the header). */
  private async commit(text: Buffer): Promise<void> {
    const mode = this.opts.commitOn ?? 'auto';
    const onLoop = mode === 'loop' || (mode === 'auto' && (!this.diskSlow() || ++this.sinceProbe >= PROBE_EVERY));
    this.commits[onLoop ? 'loop' : 'pool']++;
    let bytesWritten: number;
    if (onLoop) {
      this.sinceProbe = 0;
      const t0 = performance.now();
      try {
        bytesWritten = writeSync(this.fh.fd, text);
      } finally {
        this.recent.push(performance.now() - t0);
        if (this.recent.length > RECENT) this.recent.shift();
      }
    } else {
      bytesWritten = (await this.fh.write(text)).bytesWritten;
    }
    if (bytesWritten !== text.length) throw new Error(`short write (${bytesWritten} of ${text.length} bytes)`);
  }

  /** Median of the recent loop commits above SLOW_COMMIT_MS. */
  private diskSlow(): boolean {
    const n = this.recent.length;
    if (n === 0) return false;
    const sorted = [...this.recent].sort((a, b) => a - b);
    return sorted[n >> 1]! > SLOW_COMMIT_MS;
  }

  /** Replace the journal by a snapshot of the table (only between batches). */
  private async compactNow(): Promise<void> {
    const records = this.opts.snapshot();
    const tmp = `${this.file}.tmp`;
    const t = await open(tmp, 'w', 0o644);
    const text = Buffer.from(encodeRecords(records));
    try {
      await t.write(text);
      await t.sync();
    } finally {
      await t.close();
    }
    await rename(tmp, this.file);
    await fsyncDir(path.dirname(this.file));
    const old = this.fh;
    this.fh = await open(this.file, fsc.O_WRONLY | JOURNAL_FLAGS);
    await old.close();
    this.size = text.length;
    // Count from zero: counting the snapshot's own lines made a table of more than
    // compactAfter leases compact after every batch (rewriting the whole table each time).
    this.linesSinceSnapshot = 0;
  }

  /** Compact now (waits for queued appends first). */
  async compact(): Promise<void> {
    await this.flushing;
    await this.compactNow();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.fh.close();
    await rm(`${this.file}.tmp`, { force: true });
  }
}
