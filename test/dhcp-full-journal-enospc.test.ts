/**
 * The lease journal on a full disk (a 64 KiB tmpfs, root only): appends that do not fit are
 * rejected (so no ACK would be sent), the file never keeps a torn line, and once there is
 * room again appends go on and the journal reads back whole.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { LeaseJournal, parseJournal } from '../src/dhcp/full/lease-journal.js';
import type { LeaseRecord } from '../src/dhcp/full/lease-table.js';

const root = process.getuid?.() === 0;
const dir = mkdtempSync(path.join(tmpdir(), 'ltsp-ts-enospc-'));
let mounted = false;
afterAll(async () => {
  await journal?.close().catch(() => {});
  // Lazy unmount: never leave the tmpfs behind, even when a failed test kept a file open.
  if (mounted) execFileSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
});
let journal: LeaseJournal | undefined;

describe.skipIf(!root)('lease journal on a full disk', () => {
  // Both commit paths: an O_DSYNC writeSync on the loop, and a write in the thread pool.
  test.each(['loop', 'pool'] as const)('rejected appends leave no torn line; appends resume when space is back (commits on the %s)', async (commitOn) => {
    if (!mounted) execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    mounted = true;
    rmSync(path.join(dir, 'leases.journal'), { force: true });
    const filler = path.join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(40 * 1024));
    const file = path.join(dir, 'leases.journal');
    const j = await LeaseJournal.open(file, { snapshot: () => [], commitOn }, () => {});
    journal = j;
    const rec = (i: number): LeaseRecord => ({ op: 'bind', ip: `10.0.${i >> 8}.${i & 255}`, client: `mac:${'x'.repeat(200)}${i}`, mac: 'aa:bb:cc:dd:ee:ff', expires: i });
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 400; i++) {
      // Batches of several records, so a batch can be cut in the middle by ENOSPC.
      await j.append([rec(i * 3), rec(i * 3 + 1), rec(i * 3 + 2)]).then(() => ok++, () => failed++);
    }
    expect(ok).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
    const full = readFileSync(file, 'utf8');
    expect(full.endsWith('\n')).toBe(true);
    expect(parseJournal(full).problems).toEqual([]);
    expect(parseJournal(full).records).toHaveLength(ok * 3);
    expect(j.commits[commitOn]).toBe(ok + failed);
    expect(j.commits[commitOn === 'loop' ? 'pool' : 'loop']).toBe(0);
    rmSync(filler);
    await j.append([rec(9999)]);
    await j.close();
    const after = parseJournal(readFileSync(file, 'utf8'));
    expect(after.problems).toEqual([]);
    expect(after.records).toHaveLength(ok * 3 + 1);
  });
});
